//! Bulk setup for benchmarks: many accounts with linked companions made at
//! once, off the state lock and on every core, and groups made directly in
//! server state instead of through `w:g2` IQs.

use std::collections::BTreeMap;
use std::num::NonZeroUsize;

use rand::CryptoRng;
use tracing::{error, info};
use wa_core::adv::{self, VerifiedPairing};
use wa_core::binary::Node;
use wa_core::jid::Jid;
use wa_core::keys::KeyPair;
use wa_core::proto::AdvDeviceIdentity;
use wa_core::signal::{self, SignalError, SignedPreKey};

use super::usync::{self, SignedList};
use super::{Push, Sim, groups, unix_now};
use crate::account::{Account, BundleKeys, Companion, MAX_COMPANIONS};

/// One-time prekeys each device made by [`Sim::populate`] publishes: every
/// first send to a device takes one, so this many senders (or runs against
/// one simulator) get full X3DH bundles; later bundles have none.
pub const POPULATED_PREKEYS: u32 = 4;

/// An account made off the lock, with its signed key-index list.
struct Made {
    account: Account,
    list: SignedList,
}

impl Sim {
    /// Creates `accounts` accounts with phone numbers `first_pn`,
    /// `first_pn + 1`, ..., and returns those numbers in order.
    ///
    /// Each account has its phone (device 0) and `companions` (at most
    /// [`MAX_COMPANIONS`]) companions, devices 1..=`companions` with key
    /// indexes 1..=`companions`, linked as a scan would link them: each
    /// companion's `ADVSignedDeviceIdentity` carries the account signature of
    /// the phone's identity key and the companion's own device signature,
    /// and the account's key-index list is signed once here. Every device has
    /// an identity key, a signed prekey and [`POPULATED_PREKEYS`] one-time
    /// prekeys. Only public halves are kept: no device of a populated
    /// account is ever connected (their phones are not scripted, so
    /// [`Phone`](crate::Phone) sends and receipts do not work for them), and
    /// whatever is routed to them is queued as for any offline device (see
    /// [`Sim::queued`]). Numbers that already have an account are left as
    /// they are (and returned too).
    ///
    /// The keys are made on every core, without the state lock; this blocks
    /// the calling thread (about 0.7 s for 1,000 accounts with 2 companions
    /// each on 2 cores in a release build, 4 one-time prekeys per device).
    pub fn populate(&self, first_pn: u64, accounts: usize, companions: u16) -> Vec<String> {
        let companions = companions.min(u16::try_from(MAX_COMPANIONS).unwrap_or(u16::MAX));
        let pns: Vec<String> = (0..accounts as u64)
            .map(|i| first_pn.saturating_add(i).to_string())
            .collect();
        let new: Vec<String> = {
            let state = self.shared.state();
            pns.iter()
                .filter(|pn| !state.accounts.contains_key(*pn))
                .cloned()
                .collect()
        };
        let started = std::time::Instant::now();
        let now = unix_now();
        let threads = std::thread::available_parallelism()
            .map_or(1, NonZeroUsize::get)
            .min(new.len().max(1));
        let chunk = new.len().div_ceil(threads).max(1);
        let made: Vec<Made> = std::thread::scope(|scope| {
            let workers: Vec<_> = new
                .chunks(chunk)
                .map(|pns| {
                    scope.spawn(move || {
                        let mut rng = rand::rng();
                        pns.iter()
                            .filter_map(|pn| match make_account(pn, companions, now, &mut rng) {
                                Ok(m) => Some(m),
                                Err(e) => {
                                    // Fresh random keys are always valid.
                                    error!(%pn, error = %e, "could not make an account's keys");
                                    None
                                }
                            })
                            .collect::<Vec<_>>()
                    })
                })
                .collect();
            workers
                .into_iter()
                .flat_map(|w| w.join().unwrap_or_default())
                .collect()
        });
        let mut state = self.shared.state();
        for Made { mut account, list } in made {
            if state.accounts.contains_key(&account.pn) {
                continue;
            }
            state.next_lid += 1;
            account.lid = format!("{}", 100_000_000_000_000 + state.next_lid);
            state.lids.insert(account.lid.clone(), account.pn.clone());
            state.key_index_lists.insert(account.pn.clone(), list);
            state.accounts.insert(account.pn.clone(), account);
        }
        drop(state);
        info!(
            accounts = new.len(),
            companions,
            ms = started.elapsed().as_millis() as u64,
            "populated"
        );
        pns
    }

    /// Creates a group directly in server state, as the `w:g2` create IQ of
    /// `creator_pn` would: `creator_pn` is its super admin, `members` (phone
    /// numbers or LID users of existing accounts; unknown ones are left out)
    /// its other members. Devices of members that are connected now get the
    /// `w:gp2` create notification; offline devices get none queued (a
    /// group of 1,000 would queue the whole member list 3,000 times), so
    /// they learn of the group by querying it or from its messages. None if
    /// `creator_pn` has no account.
    pub fn create_group(&self, creator_pn: &str, subject: &str, members: &[String]) -> Option<Jid> {
        let mut state = self.shared.state();
        if !state.accounts.contains_key(creator_pn) {
            return None;
        }
        let members = groups::resolve(&state, members.to_vec());
        let (gid, meta) = groups::create(&mut state, creator_pn, subject, members);
        let note = Node::new("notification")
            .attr("from", gid.clone())
            .attr("type", "w:gp2")
            .attr("id", format!("{}", rand::random::<u32>()))
            .attr("t", unix_now().to_string())
            .attr("participant", Jid::user_jid(creator_pn.to_owned()))
            .children(vec![Node::new("create").children(vec![meta])]);
        let online: Vec<_> = state
            .groups
            .get(gid.user())
            .map(|g| {
                g.members
                    .keys()
                    .flat_map(|pn| state.devices_of(pn).into_iter().map(|d| (pn.clone(), d)))
                    .filter_map(|target| state.online.get(&target).cloned())
                    .collect()
            })
            .unwrap_or_default();
        drop(state);
        for tx in online {
            let _ = tx.send(Push::Deliver(note.clone()));
        }
        Some(gid)
    }
}

/// An account with its phone's and companions' public keys, companions
/// signed by the phone's identity key and countersigned by their own.
fn make_account<R: CryptoRng + ?Sized>(
    pn: &str,
    companions: u16,
    now: u64,
    rng: &mut R,
) -> Result<Made, SignalError> {
    let identity = KeyPair::generate(rng);
    let phone_keys = public_keys(&identity, rng)?;
    let raw_id = rng.next_u32() >> 1;
    let mut linked = BTreeMap::new();
    for device in 1..=companions {
        let key_index = u32::from(device);
        let own = KeyPair::generate(rng);
        let details = AdvDeviceIdentity {
            raw_id: Some(raw_id),
            timestamp: Some(now),
            key_index: Some(key_index),
            ..Default::default()
        };
        let signed = adv::sign_device_identity(&identity, &details, own.public(), rng);
        let pairing = VerifiedPairing { signed, details };
        // What the companion answers in pair-device-sign, with the account
        // key put back, as registration stores it.
        let Ok((signed, _)) = adv::countersign(&pairing, &own, rng) else {
            continue;
        };
        let mut noise_key = [0u8; 32];
        rng.fill_bytes(&mut noise_key);
        linked.insert(
            device,
            Companion {
                noise_key,
                key_index,
                signed_identity: signed,
                keys: public_keys(&own, rng)?,
                unsigned: false,
                name: Some("populated".to_owned()),
            },
        );
    }
    let account = Account {
        pn: pn.to_owned(),
        lid: String::new(),
        identity,
        raw_id,
        phone_keys,
        companions: linked,
        next_key_index: u32::from(companions) + 1,
    };
    let list = usync::sign_list(&account, now, rng);
    Ok(Made { account, list })
}

/// The public bundle of a device whose identity is `identity`.
fn public_keys<R: CryptoRng + ?Sized>(
    identity: &KeyPair,
    rng: &mut R,
) -> Result<BundleKeys, SignalError> {
    let signed = SignedPreKey::generate(identity, 1, rng)?;
    Ok(BundleKeys {
        registration_id: signal::generate_registration_id(rng),
        identity: identity.public().to_vec(),
        signed_prekey_id: signed.id(),
        signed_prekey: signed.public().to_vec(),
        signed_prekey_signature: signed.signature().to_vec(),
        prekeys: signal::generate_prekeys(1, POPULATED_PREKEYS, rng)
            .iter()
            .map(|k| (k.id(), k.public().to_vec()))
            .collect(),
    })
}
