//! A line-based chat room: every line a client sends goes to every other
//! client. Plain blocking code, two green threads per connection: one
//! reads the client's lines, one writes what the room sends it.
//!
//! ```sh
//! cargo run --release --example chat [ADDR]      # default 127.0.0.1:7001
//! nc 127.0.0.1 7001                              # in two terminals
//! ```
//!
//! Each member's writer is fed by a `moss::sync` channel; the room holds
//! the senders and broadcasts by sending on each (unbounded: a send never
//! waits, so a slow client cannot stall the room). A member that leaves
//! drops its sender, which ends its writer once the queue is written.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;

use moss::net::{TcpListener, TcpStream};
use moss::sync::{channel, Sender};

/// The members of the room: the sender feeding each one's writer, by id.
#[derive(Default)]
struct Room {
    members: RefCell<BTreeMap<u64, Sender<Rc<str>>>>,
}

impl Room {
    /// Sends `line` to every member but `from`; members whose writer has
    /// stopped (their connection failed) leave the room.
    fn broadcast(&self, from: u64, line: String) {
        let line: Rc<str> = line.into();
        self.members
            .borrow_mut()
            .retain(|id, member| *id == from || member.send(Rc::clone(&line)).is_ok());
    }
}

fn member(room: &Room, id: u64, stream: TcpStream) -> std::io::Result<()> {
    let peer = stream.peer_addr()?;
    let (tx, rx) = channel::<Rc<str>>();
    let output = stream.try_clone()?;
    let writer = moss::spawn(move || -> std::io::Result<()> {
        for line in rx {
            (&output).write_all(line.as_bytes())?;
        }
        Ok(())
    });
    let _ = tx.send("welcome to the moss chat room\n".into());
    room.members.borrow_mut().insert(id, tx);
    room.broadcast(id, format!("* {peer} joined\n"));
    for line in BufReader::new(&stream).lines().map_while(Result::ok) {
        room.broadcast(id, format!("{peer}: {line}\n"));
    }
    room.members.borrow_mut().remove(&id); // ends the writer
    room.broadcast(id, format!("* {peer} left\n"));
    writer.join().map_err(std::io::Error::from)?
}

fn main() -> std::io::Result<()> {
    let addr = std::env::args()
        .nth(1)
        .unwrap_or_else(|| "127.0.0.1:7001".into());
    moss::run(|| {
        let listener = TcpListener::bind(addr.as_str())?;
        eprintln!("chat: listening on {}", listener.local_addr()?);
        let room = Rc::new(Room::default());
        for (id, stream) in (0..).zip(listener.incoming()) {
            match stream {
                Ok(stream) => {
                    let room = Rc::clone(&room);
                    moss::spawn(move || {
                        let _ = member(&room, id, stream);
                    });
                }
                Err(err) => eprintln!("chat: accept: {err}"),
            }
        }
        Ok(())
    })
}
