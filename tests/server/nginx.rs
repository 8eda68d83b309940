//! The standard deployment: nginx in front, moss behind it on a Unix
//! socket. Needs `nginx` on the PATH, so it is ignored by default;
//! `.ci/run` installs nginx and runs it (`cargo test -- --ignored`).

use std::process::{Command, Stdio};
use std::thread;
use std::time::{Duration, Instant};

use super::support::{free_port, get, request, Moss, PATIENCE};

#[test]
#[ignore = "needs nginx on the PATH; .ci/run installs it"]
fn behind_nginx_on_a_unix_socket() {
    let dir = std::env::temp_dir().join(format!("moss-nginx-{}", std::process::id()));
    std::fs::create_dir_all(dir.join("logs")).unwrap();
    let socket = dir.join("moss.sock");
    let bind = format!("unix:{}", socket.display());
    let port = free_port();
    let conf = dir.join("nginx.conf");
    std::fs::write(
        &conf,
        format!(
            "pid {dir}/nginx.pid;
error_log {dir}/logs/error.log;
events {{ worker_connections 256; }}
http {{
    access_log off;
    client_body_temp_path {dir}/body;
    proxy_temp_path {dir}/proxy;
    upstream moss {{
        server unix:{socket} fail_timeout=0;
        keepalive 16;
        keepalive_timeout 1s;
    }}
    server {{
        listen 127.0.0.1:{port};
        location / {{
            proxy_set_header Host $http_host;
            proxy_set_header X-Forwarded-For $proxy_add_x_forwarded_for;
            proxy_http_version 1.1;
            proxy_set_header Connection \"\";
            proxy_pass http://moss;
        }}
    }}
}}
",
            dir = dir.display(),
            socket = socket.display(),
        ),
    )
    .unwrap();
    for class in ["sync", "gthread", "green"] {
        let moss = Moss::start(&["-k", class, "-w", "2", "-b", &bind, "echo"]);
        let started = Instant::now();
        while !socket.exists() && started.elapsed() < PATIENCE {
            thread::sleep(Duration::from_millis(20));
        }
        let mut nginx = Command::new("nginx")
            .args([
                "-c",
                conf.to_str().unwrap(),
                "-p",
                dir.to_str().unwrap(),
                "-g",
                "daemon off;",
            ])
            .stdout(Stdio::null())
            .spawn()
            .expect("nginx runs (is it installed?)");
        let addr = format!("127.0.0.1:{port}");
        let started = Instant::now();
        while get(&addr, "/").is_err() && started.elapsed() < PATIENCE {
            thread::sleep(Duration::from_millis(50));
        }
        for i in 0..50 {
            let body = format!("request {i} through nginx");
            let answer = request(&addr, "POST", "/", body.as_bytes()).unwrap();
            assert_eq!(answer, (200, body), "{class}");
        }
        let _ = nginx.kill();
        let _ = nginx.wait();
        assert!(moss.stop().success(), "{class}");
    }
    std::fs::remove_dir_all(&dir).unwrap();
}
