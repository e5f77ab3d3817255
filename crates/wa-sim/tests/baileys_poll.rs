//! Our sealed poll votes open with Baileys rc14's own `decryptPollVote`
//! (Baileys has no vote sealing of its own to check the other way), for
//! the PN and the LID forms of the voter.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic)]

mod support;

use std::io::Write as _;
use std::process::{Command, Stdio};

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use support::baileys::baileys_dir;
use wa_core::msgsecret::{VoteContext, option_hash, seal_vote};
use wa_core::proto::message::PollVoteMessage;

/// Reads one JSON vote on stdin, opens it with Baileys, prints the chosen
/// option hashes (hex, comma-separated).
const OPEN: &str = r#"
import { decryptPollVote } from 'baileys';
let input = '';
for await (const chunk of process.stdin) input += chunk;
const v = JSON.parse(input);
const vote = decryptPollVote(
  { encPayload: Buffer.from(v.encPayload, 'base64'), encIv: Buffer.from(v.encIv, 'base64') },
  {
    pollCreatorJid: v.pollCreatorJid,
    pollMsgId: v.pollMsgId,
    pollEncKey: Buffer.from(v.pollEncKey, 'base64'),
    voterJid: v.voterJid,
  },
);
console.log(vote.selectedOptions.map((o) => Buffer.from(o).toString('hex')).join(','));
"#;

fn baileys_opens(dir: &std::path::Path, input: &serde_json::Value) -> Result<String, String> {
    let mut child = Command::new("node")
        .args(["--input-type=module", "-e", OPEN])
        .current_dir(dir)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("node runs");
    child
        .stdin
        .take()
        .unwrap()
        .write_all(input.to_string().as_bytes())
        .unwrap();
    let out = child.wait_with_output().unwrap();
    if out.status.success() {
        Ok(String::from_utf8(out.stdout).unwrap().trim().to_owned())
    } else {
        Err(String::from_utf8_lossy(&out.stderr).into_owned())
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[test]
fn baileys_opens_our_sealed_votes() {
    let Some(dir) = baileys_dir() else { return };
    let secret: [u8; 32] = rand::random();
    let vote = PollVoteMessage {
        selected_options: vec![
            option_hash("Tuesday").to_vec(),
            option_hash("Friday").to_vec(),
        ],
    };
    let want = format!(
        "{},{}",
        hex(&option_hash("Tuesday")),
        hex(&option_hash("Friday"))
    );
    for voter in ["15550002222@s.whatsapp.net", "98765432101234@lid"] {
        let ctx = VoteContext {
            poll_id: "3EB0A1B2C3D4E5F6A7B8C9",
            poll_sender: "15550001111@s.whatsapp.net",
            voter,
        };
        let sealed = seal_vote(&secret, ctx, &vote, rand::random());
        let mut input = serde_json::json!({
            "encPayload": STANDARD.encode(sealed.enc_payload.as_deref().unwrap()),
            "encIv": STANDARD.encode(sealed.enc_iv.as_deref().unwrap()),
            "pollCreatorJid": ctx.poll_sender,
            "pollMsgId": ctx.poll_id,
            "pollEncKey": STANDARD.encode(secret),
            "voterJid": voter,
        });
        assert_eq!(baileys_opens(&dir, &input).unwrap(), want, "voter {voter}");
        // Told another voter, Baileys refuses it too.
        input["voterJid"] = "15550009999@s.whatsapp.net".into();
        assert!(baileys_opens(&dir, &input).is_err(), "voter {voter}");
    }
}
