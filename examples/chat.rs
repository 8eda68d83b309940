//! A line-based chat room: every line a client sends goes to every other
//! client. One green thread per connection, plain blocking code.
//!
//! ```sh
//! cargo run --release --example chat [ADDR]      # default 127.0.0.1:7001
//! nc 127.0.0.1 7001                              # in two terminals
//! ```
//!
//! The room is an `Rc<RefCell<…>>` of the members' write halves: all green
//! threads of a hub share one OS thread, so no lock is needed.

use std::cell::RefCell;
use std::collections::BTreeMap;
use std::io::{BufRead, BufReader, Write};
use std::rc::Rc;

use moss::net::{TcpListener, TcpStream};

/// The members of the room, by id.
#[derive(Default)]
struct Room {
    members: RefCell<BTreeMap<u64, Rc<TcpStream>>>,
}

impl Room {
    /// Sends `line` to every member but `from`; members whose connection
    /// failed leave the room.
    fn broadcast(&self, from: u64, line: &str) {
        let members: Vec<_> = self
            .members
            .borrow()
            .iter()
            .filter(|(id, _)| **id != from)
            .map(|(id, stream)| (*id, Rc::clone(stream)))
            .collect();
        for (id, stream) in members {
            if (&*stream).write_all(line.as_bytes()).is_err() {
                self.members.borrow_mut().remove(&id);
            }
        }
    }
}

fn member(room: Rc<Room>, id: u64, stream: TcpStream) -> std::io::Result<()> {
    let stream = Rc::new(stream);
    let peer = stream.peer_addr()?;
    (&*stream).write_all(b"welcome to the moss chat room\n")?;
    room.members.borrow_mut().insert(id, Rc::clone(&stream));
    room.broadcast(id, &format!("* {peer} joined\n"));
    let mut lines = BufReader::new(&*stream);
    let mut line = String::new();
    while lines.read_line(&mut line)? > 0 {
        room.broadcast(id, &format!("{peer}: {line}"));
        line.clear();
    }
    room.members.borrow_mut().remove(&id);
    room.broadcast(id, &format!("* {peer} left\n"));
    Ok(())
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
                        let _ = member(room, id, stream);
                    });
                }
                Err(err) => eprintln!("chat: accept: {err}"),
            }
        }
        Ok(())
    })
}
