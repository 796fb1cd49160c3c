//! E-mail for workers: a [`MailSender`] chosen by configuration at start.
//!
//! - `mail-sender = "log"` (default): every mail is written to the JSON log and counted; nothing
//!   leaves the process. Right for development and tests.
//! - `mail-sender = "smtp"` (cargo feature `smtp`): sent with `lettre` to `smtp-url`
//!   (`smtp://host:port`, plain SMTP; put a relay with TLS in front for the internet), from
//!   `mail-from`.
//!
//! Keys come from `config/<service>.toml` or `APP_MAIL_SENDER`, `APP_SMTP_URL`,
//! `APP_MAIL_FROM`, `APP_MAIL_TO` (the default recipient, [`recipient`]). Every sent mail increments `mails_sent_total{sender}`.

use std::sync::{Arc, OnceLock};

use crate::messaging::broker::BoxFuture;
use crate::service::config::Settings;

/// A rendered e-mail.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Mail {
    pub to: String,
    pub subject: String,
    pub body: String,
}

#[derive(Debug, thiserror::Error)]
pub enum MailError {
    #[error("mail configuration: {0}")]
    Config(String),
    #[error("mail not sent: {0}")]
    Send(String),
}

impl From<MailError> for crate::messaging::consumer::HandlerError {
    fn from(e: MailError) -> Self {
        match e {
            MailError::Config(m) => Self::Poison(m),
            MailError::Send(m) => Self::Retry(m),
        }
    }
}

/// Sends mails. Implement it to plug in another transport.
pub trait MailSender: Send + Sync {
    fn kind(&self) -> &'static str;
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>>;
}

/// Writes mails to the log.
#[derive(Debug, Default)]
pub struct LogSender;

impl MailSender for LogSender {
    fn kind(&self) -> &'static str {
        "log"
    }
    fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
        Box::pin(async move {
            tracing::info!(to = %mail.to, subject = %mail.subject, body = %mail.body, "mail sent (log sender)");
            Ok(())
        })
    }
}

#[cfg(feature = "smtp")]
pub use smtp::SmtpSender;

#[cfg(feature = "smtp")]
mod smtp {
    use lettre::message::Mailbox;
    use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};

    use super::{BoxFuture, Mail, MailError, MailSender};

    /// Sends over SMTP with `lettre` (no TLS).
    pub struct SmtpSender {
        transport: AsyncSmtpTransport<Tokio1Executor>,
        from: Mailbox,
    }

    impl SmtpSender {
        /// `url` as `smtp://host:port`.
        pub fn new(url: &str, from: &str) -> Result<Self, MailError> {
            let (host, port) = super::parse_smtp_url(url)?;
            let transport = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host)
                .port(port)
                .build();
            let from = from
                .parse()
                .map_err(|e| MailError::Config(format!("mail-from `{from}`: {e}")))?;
            Ok(Self { transport, from })
        }
    }

    impl MailSender for SmtpSender {
        fn kind(&self) -> &'static str {
            "smtp"
        }
        fn send<'a>(&'a self, mail: &'a Mail) -> BoxFuture<'a, Result<(), MailError>> {
            Box::pin(async move {
                let to: Mailbox = mail
                    .to
                    .parse()
                    .map_err(|e| MailError::Config(format!("recipient `{}`: {e}", mail.to)))?;
                let message = Message::builder()
                    .from(self.from.clone())
                    .to(to)
                    .subject(mail.subject.clone())
                    .body(mail.body.clone())
                    .map_err(|e| MailError::Config(e.to_string()))?;
                self.transport
                    .send(message)
                    .await
                    .map_err(|e| MailError::Send(e.to_string()))?;
                Ok(())
            })
        }
    }
}

/// `smtp://host[:port]` → (host, port); the port defaults to 25.
pub fn parse_smtp_url(url: &str) -> Result<(&str, u16), MailError> {
    let bad = || MailError::Config(format!("smtp-url `{url}` is not smtp://host[:port]"));
    let rest = url.strip_prefix("smtp://").ok_or_else(bad)?;
    let rest = rest.trim_end_matches('/');
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) => (h, p.parse().map_err(|_| bad())?),
        None => (rest, 25),
    };
    if host.is_empty() || host.contains('/') {
        return Err(bad());
    }
    Ok((host, port))
}

static SENDER: OnceLock<Arc<dyn MailSender>> = OnceLock::new();
static RECIPIENT: OnceLock<String> = OnceLock::new();

/// The default recipient: `mail-to`, or `ops@localhost`.
pub fn recipient() -> String {
    RECIPIENT
        .get()
        .cloned()
        .unwrap_or_else(|| "ops@localhost".to_string())
}

/// Builds the sender the settings ask for.
pub fn from_settings(settings: &Settings) -> Result<Arc<dyn MailSender>, MailError> {
    match settings.text("mail_sender").unwrap_or("log") {
        "log" => Ok(Arc::new(LogSender)),
        #[cfg(feature = "smtp")]
        "smtp" => {
            let url = settings.text("smtp_url").unwrap_or("smtp://127.0.0.1:25");
            let from = settings.text("mail_from").unwrap_or("no-reply@localhost");
            Ok(Arc::new(SmtpSender::new(url, from)?))
        }
        other => Err(MailError::Config(format!(
            "mail-sender `{other}` is not available (log{})",
            if cfg!(feature = "smtp") {
                ", smtp"
            } else {
                "; smtp needs the `smtp` feature"
            }
        ))),
    }
}

/// Chooses the process's sender from the settings; called once at start.
pub fn configure(settings: &Settings) -> Result<(), MailError> {
    let sender = from_settings(settings)?;
    let _ = SENDER.set(sender);
    if let Some(to) = settings.text("mail_to") {
        let _ = RECIPIENT.set(to.to_string());
    }
    Ok(())
}

/// Sends `mail` with the configured sender (the log sender when none was configured).
pub async fn send(mail: &Mail) -> Result<(), MailError> {
    let sender = SENDER.get_or_init(|| Arc::new(LogSender));
    sender.send(mail).await?;
    metrics::counter!("mails_sent_total", "sender" => sender.kind()).increment(1);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn settings(pairs: &[(&str, &str)]) -> Settings {
        let dir = std::env::temp_dir().join("rt-mail-none");
        let sources = crate::service::config::Sources {
            dir,
            env: pairs
                .iter()
                .map(|(k, v)| ((*k).to_string(), (*v).to_string()))
                .collect(),
        };
        crate::service::config::load("notifications", 8100, &sources).unwrap()
    }

    #[test]
    fn log_is_the_default_and_unknown_senders_are_refused() {
        assert_eq!(from_settings(&settings(&[])).unwrap().kind(), "log");
        let err = from_settings(&settings(&[("APP_MAIL_SENDER", "pigeon")]))
            .err()
            .unwrap();
        assert!(err.to_string().contains("`pigeon`"), "{err}");
    }

    #[test]
    fn smtp_urls_parse() {
        assert_eq!(parse_smtp_url("smtp://mail:2525").unwrap(), ("mail", 2525));
        assert_eq!(parse_smtp_url("smtp://mail").unwrap(), ("mail", 25));
        assert!(parse_smtp_url("http://mail").is_err());
        assert!(parse_smtp_url("smtp://:25").is_err());
        assert!(parse_smtp_url("smtp://mail:x").is_err());
    }

    #[cfg(feature = "smtp")]
    #[test]
    fn smtp_is_built_from_its_url() {
        let s = from_settings(&settings(&[
            ("APP_MAIL_SENDER", "smtp"),
            ("APP_SMTP_URL", "smtp://127.0.0.1:2525"),
        ]))
        .unwrap();
        assert_eq!(s.kind(), "smtp");
        assert!(
            from_settings(&settings(&[
                ("APP_MAIL_SENDER", "smtp"),
                ("APP_MAIL_FROM", "not an address")
            ]))
            .is_err()
        );
    }
}
