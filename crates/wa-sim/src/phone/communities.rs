//! Communities from the phone: each call is the `w:g2` IQ the app sends
//! (whatsmeow 33cfac51 `group.go` `CreateGroup` with `GroupParent` or
//! `GroupLinkedParent`, `LinkGroup`, `UnlinkGroup`, `GetSubGroups`),
//! answered by the server's own handler, which tells the members.

use wa_core::binary::Node;
use wa_core::jid::{Jid, Server};

use super::Phone;

/// `<participant jid>` for each phone number.
fn participants(pns: &[&str]) -> Vec<Node> {
    pns.iter()
        .map(|pn| Node::new("participant").attr("jid", Jid::user_jid((*pn).to_owned())))
        .collect()
}

/// The `<group id>` of a create's answer, as a group JID.
fn created_id(answer: &Node) -> Option<Jid> {
    if answer.attr_str("type") != Some("result") {
        return None;
    }
    let id = answer.child("group")?.attr_str("id")?;
    Some(Jid::new(id, Server::Group))
}

impl Phone {
    /// Sends a `w:g2` IQ of `kind` (`get`, `set`) with `action` to `to`
    /// as this account's app would; the server's answer.
    fn group_iq(&self, to: &Jid, kind: &'static str, action: Node) -> Node {
        let iq = Node::new("iq")
            .attr("to", to.clone())
            .attr("type", kind)
            .attr("xmlns", "w:g2")
            .children(vec![action]);
        crate::server::groups::iq(&self.shared, &self.pn, "phone", &iq)
    }

    /// Creates a community named `subject` of this account (super admin)
    /// and the accounts `members`: `<create subject><participant
    /// jid/>...<parent default_membership_approval_mode="request_required"/>`.
    /// The server makes its parent group and announcement group; their ids
    /// (parent, announcement group), or `None` if it refused.
    pub fn create_community(&self, subject: &str, members: &[&str]) -> Option<(Jid, Jid)> {
        let mut children = participants(members);
        children
            .push(Node::new("parent").attr("default_membership_approval_mode", "request_required"));
        let create = Node::new("create")
            .attr("subject", subject.to_owned())
            .children(children);
        let answer = self.group_iq(&Jid::new("", Server::Group), "set", create);
        let parent = created_id(&answer)?;
        // The announcement group, as the app learns it: `<sub_groups/>`.
        let subs = self.group_iq(&parent, "get", Node::new("sub_groups"));
        let announcement = subs
            .child("sub_groups")?
            .children_by_tag("group")
            .find(|g| g.child("default_sub_group").is_some())?
            .attr_str("id")?;
        let announcement = Jid::new(announcement, Server::Group);
        Some((parent, announcement))
    }

    /// Creates a group named `subject` of this account and `members` in
    /// community `parent` (`<create subject>...<linked_parent jid/>`); its
    /// members join the community. Its id, or `None` if refused (this
    /// account must be a member of the community).
    pub fn create_group_in(&self, parent: &Jid, subject: &str, members: &[&str]) -> Option<Jid> {
        let mut children = participants(members);
        children.push(Node::new("linked_parent").attr("jid", parent.clone()));
        let create = Node::new("create")
            .attr("subject", subject.to_owned())
            .attr("key", format!("{:016X}", rand::random::<u64>()))
            .children(children);
        let answer = self.group_iq(&Jid::new("", Server::Group), "set", create);
        created_id(&answer)
    }

    /// Links the existing group `child` to community `parent`
    /// (`<links><link link_type="sub_group"><group jid/></link></links>`
    /// to the parent); this account must be an admin of both. True if the
    /// server took it.
    pub fn link_group(&self, parent: &Jid, child: &Jid) -> bool {
        let group = Node::new("group").attr("jid", child.clone());
        let link = Node::new("link")
            .attr("link_type", "sub_group")
            .children(vec![group]);
        let links = Node::new("links").children(vec![link]);
        let answer = self.group_iq(parent, "set", links);
        answer.attr_str("type") == Some("result")
    }

    /// Unlinks group `child` from community `parent` (`<unlink
    /// unlink_type="sub_group"><group jid/></unlink>` to the parent); this
    /// account must be an admin of the community. True if the server took
    /// it.
    pub fn unlink_group(&self, parent: &Jid, child: &Jid) -> bool {
        let group = Node::new("group").attr("jid", child.clone());
        let unlink = Node::new("unlink")
            .attr("unlink_type", "sub_group")
            .children(vec![group]);
        let answer = self.group_iq(parent, "set", unlink);
        answer.attr_str("type") == Some("result")
    }
}
