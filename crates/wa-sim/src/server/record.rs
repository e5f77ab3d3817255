//! What logged-in devices sent, kept for tests that compare clients on the
//! wire (only while [`crate::Sim::record_stanzas`] is on, so a long-running
//! simulator does not grow without bound), and the shapes tests compare.

use wa_core::binary::Node;

/// Stanzas sent by each logged-in device, in order.
#[derive(Default)]
pub(crate) struct Recorder {
    on: bool,
    sent: Vec<((String, u16), Node)>,
    /// How many of each device's stanzas it sent while being paired.
    pairing: std::collections::HashMap<(String, u16), usize>,
}

impl std::fmt::Debug for Recorder {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Recorder")
            .field("on", &self.on)
            .field("sent", &self.sent.len())
            .finish()
    }
}

impl Recorder {
    pub(crate) fn start(&mut self) {
        self.on = true;
    }

    pub(crate) fn sent(&mut self, who: &(String, u16), node: &Node) {
        if self.on {
            self.sent.push((who.clone(), node.clone()));
        }
    }

    /// Records what `who` sent while being paired, in order.
    pub(crate) fn paired(&mut self, who: &(String, u16), nodes: &[Node]) {
        if self.on {
            for node in nodes {
                self.sent(who, node);
            }
            self.pairing.insert(who.clone(), nodes.len());
        }
    }

    /// How many of `who`'s first stanzas were sent while being paired.
    pub(crate) fn pairing_count(&self, who: &(String, u16)) -> usize {
        self.pairing.get(who).copied().unwrap_or(0)
    }

    /// The stanzas `who` sent, in order.
    pub(crate) fn of<'a>(&'a self, who: &'a (String, u16)) -> impl Iterator<Item = &'a Node> {
        self.sent
            .iter()
            .filter(move |(w, _)| w == who)
            .map(|(_, n)| n)
    }
}

/// One node's shape: tag, `type` and `xmlns` values, sorted attribute
/// names, child tags in order, e.g. `iq type=get xmlns=encrypt
/// [id,to,type,xmlns] > count`.
pub(crate) fn shape(node: &Node) -> String {
    let children: Vec<&str> = node.child_nodes().iter().map(|c| c.tag.as_ref()).collect();
    format!("{} > {}", head(node), children.join(","))
}

fn head(node: &Node) -> String {
    let mut names: Vec<&str> = node.attrs.iter().map(|(k, _)| k).collect();
    names.sort_unstable();
    format!(
        "{} type={} xmlns={} [{}]",
        node.tag,
        node.attr_str("type").unwrap_or("-"),
        node.attr_str("xmlns").unwrap_or("-"),
        names.join(","),
    )
}

/// What a stanza is made of, one fact per line, each once: every node
/// (prefixed by the tags above it, with its `type` and `xmlns` values),
/// each of its attribute names (`.. @to`) and each of its child tags
/// (`.. > participants`). A stanza for 3 devices and one for 30 give the
/// same lines, and two clients that name the same things differ in none.
pub(crate) fn deep_shapes(node: &Node) -> Vec<String> {
    let mut out = Vec::new();
    walk(node, "", &mut out);
    out.sort_unstable();
    out.dedup();
    out
}

fn walk(node: &Node, above: &str, out: &mut Vec<String>) {
    let path = if above.is_empty() {
        node.tag.to_string()
    } else {
        format!("{above}/{}", node.tag)
    };
    let kind = match (node.tag.as_ref(), node.attr_str("type")) {
        // Whether an <enc> is a first (pkmsg) or later (msg) pairwise
        // message depends on session state, not on the client.
        ("enc", Some("pkmsg" | "msg")) => Some("pairwise"),
        (_, t) => t,
    };
    let at = format!(
        "{path} type={} xmlns={}",
        kind.unwrap_or("-"),
        node.attr_str("xmlns").unwrap_or("-")
    );
    out.extend(node.attrs.iter().map(|(k, _)| format!("{at} @{k}")));
    out.extend(
        node.child_nodes()
            .iter()
            .map(|c| format!("{at} > {}", c.tag)),
    );
    for child in node.child_nodes() {
        walk(child, &path, out);
    }
    out.push(at);
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn deep_shapes_name_every_node_once_per_shape() {
        let to = |jid: &'static str, t: &'static str| {
            Node::new("to")
                .attr("jid", jid)
                .children(vec![Node::new("enc").attr("type", t).attr("v", "2")])
        };
        let node = Node::new("message")
            .attr("to", "1@s.whatsapp.net")
            .attr("type", "text")
            .children(vec![
                Node::new("participants")
                    .children(vec![to("1:1@lid", "pkmsg"), to("1:2@lid", "msg")]),
            ]);
        assert_eq!(
            deep_shapes(&node),
            [
                "message type=text xmlns=-",
                "message type=text xmlns=- > participants",
                "message type=text xmlns=- @to",
                "message type=text xmlns=- @type",
                "message/participants type=- xmlns=-",
                "message/participants type=- xmlns=- > to",
                "message/participants/to type=- xmlns=-",
                "message/participants/to type=- xmlns=- > enc",
                "message/participants/to type=- xmlns=- @jid",
                "message/participants/to/enc type=pairwise xmlns=-",
                "message/participants/to/enc type=pairwise xmlns=- @type",
                "message/participants/to/enc type=pairwise xmlns=- @v",
            ]
        );
        assert_eq!(
            shape(&node),
            "message type=text xmlns=- [to,type] > participants"
        );
    }
}
