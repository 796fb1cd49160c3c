//! An SMTP sink for the suite: accepts every mail the system's workers send over plain SMTP
//! and keeps it, so a check can wait for the mail a business flow ends in. It speaks the part
//! of SMTP a client sending one mail needs (greeting, `EHLO`/`HELO`, `MAIL`, `RCPT`, `DATA`,
//! `RSET`, `NOOP`, `QUIT`) and nothing more: no TLS, no authentication, no relaying.

use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};
use tokio::net::{TcpListener, TcpStream};

/// The sink: its address and every mail received (the raw message, headers and body).
#[derive(Clone, Debug)]
pub struct Sink {
    pub port: u16,
    mails: Arc<Mutex<Vec<String>>>,
}

impl Sink {
    /// Listens on a free local port, serving each client on its own task.
    pub async fn start() -> Result<Self, String> {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .map_err(|e| format!("smtp sink: {e}"))?;
        let port = listener
            .local_addr()
            .map_err(|e| format!("smtp sink: {e}"))?
            .port();
        let mails = Arc::new(Mutex::new(Vec::new()));
        let kept = mails.clone();
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let kept = kept.clone();
                tokio::spawn(async move {
                    if let Ok(Some(mail)) = serve(stream).await {
                        kept.lock().unwrap_or_else(|e| e.into_inner()).push(mail);
                    }
                });
            }
        });
        Ok(Self { port, mails })
    }

    /// `smtp://127.0.0.1:<port>`, for a worker's `APP_SMTP_URL`.
    pub fn url(&self) -> String {
        format!("smtp://127.0.0.1:{}", self.port)
    }

    /// Every mail received so far.
    pub fn mails(&self) -> Vec<String> {
        self.mails.lock().unwrap_or_else(|e| e.into_inner()).clone()
    }

    /// Waits (30 s at most) for a mail containing `text`.
    pub async fn wait_for(&self, text: &str) -> Result<String, String> {
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(m) = self.mails().into_iter().find(|m| m.contains(text)) {
                return Ok(m);
            }
            if Instant::now() > deadline {
                return Err(format!(
                    "no mail mentions {text} after 30s ({} received)",
                    self.mails().len()
                ));
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
}

/// One SMTP session; returns the message of its (last) `DATA`.
async fn serve(stream: TcpStream) -> std::io::Result<Option<String>> {
    let (read, mut write) = stream.into_split();
    let mut lines = BufReader::new(read).lines();
    write.write_all(b"220 e2e-kit SMTP sink\r\n").await?;
    let mut mail = None;
    while let Some(line) = lines.next_line().await? {
        let verb = line
            .split_whitespace()
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        match verb.as_str() {
            "EHLO" | "HELO" => write.write_all(b"250 e2e-kit\r\n").await?,
            "DATA" => {
                write.write_all(b"354 end with <CRLF>.<CRLF>\r\n").await?;
                let mut message = String::new();
                while let Some(l) = lines.next_line().await? {
                    if l == "." {
                        break;
                    }
                    // Dot-stuffing: a leading `..` stands for `.`.
                    message.push_str(l.strip_prefix('.').unwrap_or(&l));
                    message.push('\n');
                }
                mail = Some(message);
                write.write_all(b"250 kept\r\n").await?;
            }
            "QUIT" => {
                write.write_all(b"221 bye\r\n").await?;
                break;
            }
            _ => write.write_all(b"250 ok\r\n").await?,
        }
    }
    Ok(mail)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn keeps_a_mail_sent_over_smtp() {
        let sink = Sink::start().await.expect("sink");
        let stream = TcpStream::connect(("127.0.0.1", sink.port))
            .await
            .expect("connect");
        let (read, mut write) = stream.into_split();
        let mut lines = BufReader::new(read).lines();
        let greeting = lines.next_line().await.expect("read").expect("line");
        assert!(greeting.starts_with("220"), "{greeting}");
        for (say, code) in [
            ("EHLO test\r\n", "250"),
            ("MAIL FROM:<a@x>\r\n", "250"),
            ("RCPT TO:<b@x>\r\n", "250"),
            ("DATA\r\n", "354"),
            ("Subject: OrderApproved 42\r\n\r\n..dot\r\n.\r\n", "250"),
            ("QUIT\r\n", "221"),
        ] {
            write.write_all(say.as_bytes()).await.expect("write");
            let line = lines.next_line().await.expect("read").expect("line");
            assert!(line.starts_with(code), "{say:?} answered {line}");
        }
        let mail = sink.wait_for("OrderApproved 42").await.expect("mail");
        assert!(mail.contains("\n.dot\n"), "{mail}");
        assert_eq!(sink.mails().len(), 1);
    }
}
