//! What a server does with messages, written once for every codec: print
//! (`-k`, the default of `ws listen`), echo, broker, chat.
//!
//! The chat's notices scale: a joiner's welcome lists at most
//! [`WELCOME_NAMES`] names and a count, and join and leave notices are
//! batched per loop turn (one notice naming up to [`NOTICE_NAMES`] people and
//! a count), so a storm of N joins costs O(N) notice bytes per turn, not
//! O(N^2).

use std::time::{Duration, Instant};

use super::{Client, Codec, Core, Ending, Opened, Text, Timer};
use crate::error::Result;
use crate::event::{Closer, Event};
use crate::reactor::Ctx;

/// How many names a chat welcome lists.
pub const WELCOME_NAMES: usize = 10;
/// How many names one batched join or leave notice lists.
pub const NOTICE_NAMES: usize = 10;
/// Join and leave notices go out at most every `NOTICE_EVERY` per 1000
/// clients in the room (at least `NOTICE_EVERY`, at most a second; sooner
/// when someone speaks), so a storm of joins costs a bounded number of
/// notices per client, not one per join.
pub const NOTICE_EVERY: Duration = Duration::from_millis(50);

fn notice_interval(clients: usize) -> Duration {
    let per = (clients / 1000).clamp(1, 20) as u32;
    NOTICE_EVERY * per
}

/// Which room a multi-client listener serves, decided once from its flags:
/// `tcp listen`, `unix listen` and `ws listen` share it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ServeMode {
    /// Console (stdin) to every client, each client to stdout (`-k`; the
    /// default of `ws listen`).
    Print,
    /// `--broker`: as `Print`, and each client to every other client.
    Broker,
    /// `--chat`: a chat room with names, join and leave notices.
    Chat,
    /// `--echo`: each client's data back to it.
    Echo,
}

impl ServeMode {
    /// The mode `--chat`, `--broker` and `--echo` ask for, the first given
    /// in that order; none of them: `None`.
    pub fn from_flags(chat: bool, broker: bool, echo: bool) -> Option<ServeMode> {
        [
            (chat, ServeMode::Chat),
            (broker, ServeMode::Broker),
            (echo, ServeMode::Echo),
        ]
        .into_iter()
        .find_map(|(set, mode)| set.then_some(mode))
    }

    /// Whether the console (stdin) goes to the clients: in every mode but
    /// `--echo`, where nobody else's bytes reach a client.
    pub fn reads_console(self) -> bool {
        self != ServeMode::Echo
    }
}

/// A server's behaviour over messages. Every method may act on the clients
/// through `core`; nothing here sees a socket.
pub trait Room<C: Codec> {
    /// A client is past its handshake (it has its name).
    fn joined(&mut self, core: &mut Core<C>, key: usize, opened: &Opened) -> Result<()> {
        let _ = (core, key, opened);
        Ok(())
    }

    /// A message from an open client.
    fn message(&mut self, core: &mut Core<C>, key: usize, m: C::Msg) -> Result<()>;

    /// An open client is gone (already out of the core).
    fn left(&mut self, core: &mut Core<C>, client: &Client<C>, ending: &Ending) -> Result<()> {
        let _ = (core, client, ending);
        Ok(())
    }

    /// A message from the console (stdin): to every open client.
    fn console(&mut self, core: &mut Core<C>, m: C::Msg) -> Result<()> {
        core.broadcast(None, |_| true, &m);
        Ok(())
    }

    /// A wake-up asked for with [`Core::wake_at`].
    fn wake(&mut self, core: &mut Core<C>, token: u64) -> Result<()> {
        let _ = (core, token);
        Ok(())
    }

    /// The loop is about to wait: send what was batched this turn.
    fn end_of_turn(&mut self, core: &mut Core<C>) -> Result<()> {
        let _ = core;
        Ok(())
    }

    /// The room's own sockets (tokens `ROOM_IO..CLIENT_BASE`) and timers
    /// (`Timer::RoomIo`): once at the start, then at each of their events.
    fn io(&mut self, core: &mut Core<C>, cx: &mut Ctx<Timer>, io: RoomIo) -> Result<()> {
        let _ = (core, cx, io);
        Ok(())
    }
}

/// Why [`Room::io`] is called.
pub enum RoomIo<'a> {
    /// Before the loop's first wait.
    Start,
    Ready(mio::Token, &'a mio::event::Event),
    Timer(u64),
}

/// Messages to the console; console lines to every client (`-k`).
pub struct Print;

impl<C: Codec> Room<C> for Print {
    fn message(&mut self, core: &mut Core<C>, key: usize, m: C::Msg) -> Result<()> {
        let now = core.now;
        match core.clients.get(key) {
            Some(c) => C::report_message(&c.info(now), &m, core.out),
            None => Ok(()),
        }
    }
}

/// Each message back to its sender.
pub struct Echo;

impl<C: Codec> Room<C> for Echo {
    fn message(&mut self, core: &mut Core<C>, key: usize, m: C::Msg) -> Result<()> {
        core.send(key, &m);
        Ok(())
    }
}

/// Each message to every other client, and to the console.
pub struct Broker;

impl<C: Codec> Room<C> for Broker {
    fn message(&mut self, core: &mut Core<C>, key: usize, m: C::Msg) -> Result<()> {
        core.broadcast(Some(key), |_| true, &m);
        Print.message(core, key, m)
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Kind {
    Join,
    Leave,
}

/// Lines as `<name> text`, a welcome, join and leave notices.
pub struct Chat {
    /// Show console lines on the console too (stdin is not a terminal).
    pub echo_console: bool,
    /// Notices of this turn not sent yet, all of one kind: (key, name).
    batch: Vec<(usize, String)>,
    kind: Kind,
    /// When notices last went out.
    sent_at: Option<Instant>,
    /// A wake-up is armed for the batch.
    waking: bool,
}

impl Chat {
    pub fn new(echo_console: bool) -> Chat {
        Chat {
            echo_console,
            batch: Vec::new(),
            kind: Kind::Join,
            sent_at: None,
            waking: false,
        }
    }

    /// Sends the batched notices now (before a line, so order holds).
    pub fn flush<C: Text>(&mut self, core: &mut Core<C>) {
        if self.batch.is_empty() {
            return;
        }
        self.sent_at = Some(core.now());
        let batch = std::mem::take(&mut self.batch);
        let verb = match self.kind {
            Kind::Join => "joined",
            Kind::Leave => "left",
        };
        let names: Vec<&str> = batch.iter().map(|(_, n)| n.as_str()).collect();
        let all = C::text(notice(&names, verb));
        // Those who joined in this batch know who was there from their
        // welcome; each hears of those who came after it.
        core.broadcast(None, |c| !c.mark, &all);
        if self.kind == Kind::Join {
            for (i, (key, name)) in batch.iter().enumerate() {
                let later = &names[i + 1..];
                let member = core.client(*key).is_some_and(|c| c.mark && c.name == *name);
                if member && !later.is_empty() {
                    core.send(*key, &C::text(notice(later, verb)));
                }
            }
            for (key, _) in &batch {
                if let Some(c) = core.client_mut(*key) {
                    c.mark = false;
                }
            }
        }
    }

    fn queue<C: Text>(&mut self, core: &mut Core<C>, kind: Kind, key: usize, name: String) {
        if self.kind != kind {
            self.flush(core);
            self.kind = kind;
        }
        self.batch.push((key, name));
    }
}

/// `*** ann joined`, `*** ann, bob and 3 others left`.
fn notice(names: &[&str], verb: &str) -> String {
    let shown = names[..names.len().min(NOTICE_NAMES)].join(", ");
    match names.len().saturating_sub(NOTICE_NAMES) {
        0 => format!("*** {shown} {verb}"),
        more => format!("*** {shown} and {more} others {verb}"),
    }
}

impl<C: Text> Room<C> for Chat {
    fn joined(&mut self, core: &mut Core<C>, key: usize, _: &Opened) -> Result<()> {
        let Some(c) = core.client(key) else {
            return Ok(());
        };
        let (name, remote) = (c.name.clone(), c.peer.clone());
        let others = core.names_but(key, WELCOME_NAMES);
        let more = core.member_count().saturating_sub(1 + others.len());
        let hello = C::welcome(&name);
        let welcome = match (others.len(), more) {
            (0, _) => format!("{hello}; nobody else is here yet"),
            (_, 0) => format!("{hello}; here: {}", others.join(", ")),
            (_, more) => format!("{hello}; here: {} and {more} more", others.join(", ")),
        };
        // Marked: notices still waiting (leaves before it came) are not
        // its business, but they must reach the others in order.
        if let Some(c) = core.client_mut(key) {
            c.mark = true;
        }
        if self.kind == Kind::Leave {
            self.flush(core);
        }
        core.send(key, &C::text(welcome));
        self.queue(core, Kind::Join, key, name.clone());
        core.out.emit(&Event::Joined {
            name: &name,
            remote,
            clients: core.member_count(),
        })
    }

    fn message(&mut self, core: &mut Core<C>, key: usize, m: C::Msg) -> Result<()> {
        self.flush(core);
        let Some(c) = core.client(key) else {
            return Ok(());
        };
        let name = c.name.clone();
        let text = C::text_of(&m).into_owned();
        core.broadcast(Some(key), |_| true, &C::text(format!("<{name}> {text}")));
        core.out.emit(&Event::Chat {
            from: &name,
            text: &text,
        })
    }

    fn left(&mut self, core: &mut Core<C>, client: &Client<C>, ending: &Ending) -> Result<()> {
        let why = match ending.by {
            Closer::Overflow => Some("too slow"),
            Closer::Idle => Some("idle"),
            Closer::Error => Some("connection lost"),
            _ => None,
        };
        let shown = match why {
            Some(w) => format!("{} ({w})", client.name),
            None => client.name.clone(),
        };
        self.queue(core, Kind::Leave, usize::MAX, shown);
        core.out.emit(&Event::Left {
            name: &client.name,
            clients: core.member_count(),
            reason: why,
        })
    }

    fn console(&mut self, core: &mut Core<C>, m: C::Msg) -> Result<()> {
        self.flush(core);
        let text = C::text_of(&m).into_owned();
        core.broadcast(None, |_| true, &C::text(format!("<server> {text}")));
        if self.echo_console {
            core.out.emit(&Event::Chat {
                from: crate::proto::chat::CONSOLE,
                text: &text,
            })?;
        }
        Ok(())
    }

    fn end_of_turn(&mut self, core: &mut Core<C>) -> Result<()> {
        if self.batch.is_empty() {
            return Ok(());
        }
        let every = notice_interval(core.member_count());
        match self.sent_at.map(|at| at + every) {
            Some(due) if due > core.now() => {
                if !self.waking {
                    self.waking = true;
                    core.wake_at(due, 0);
                }
            }
            _ => self.flush(core),
        }
        Ok(())
    }

    fn wake(&mut self, core: &mut Core<C>, _: u64) -> Result<()> {
        self.waking = false;
        self.flush(core);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn notices_wait_longer_in_bigger_rooms() {
        assert_eq!(notice_interval(0), NOTICE_EVERY);
        assert_eq!(notice_interval(1999), NOTICE_EVERY);
        assert_eq!(notice_interval(10_000), NOTICE_EVERY * 10);
        assert_eq!(notice_interval(1_000_000), Duration::from_secs(1));
    }

    #[test]
    fn notices_name_ten_and_count_the_rest() {
        assert_eq!(notice(&["ann"], "joined"), "*** ann joined");
        assert_eq!(notice(&["ann", "bob"], "left"), "*** ann, bob left");
        let many: Vec<String> = (1..=25).map(|i| format!("u{i}")).collect();
        let refs: Vec<&str> = many.iter().map(String::as_str).collect();
        assert_eq!(
            notice(&refs, "joined"),
            "*** u1, u2, u3, u4, u5, u6, u7, u8, u9, u10 and 15 others joined"
        );
    }
}
