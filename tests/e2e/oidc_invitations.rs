//! Invitations and password resets on SQLite and PostgreSQL: single use, expiry, deactivated
//! accounts, mail to a folder and over SMTP (to a small SMTP test double), and the CLI.

use std::time::Duration;

use crate::support::{cli_err, cli_line, count, TestDb};
use guildgate::accounts::Role;
use guildgate::db::Store;
use guildgate::mail::{Delivery, Mailer};
use guildgate::members::{Kind, MemberData};
use guildgate::oidc::invitations::{self, InvitationError, Purpose};
use guildgate::settings::Settings;
use tokio::io::{AsyncBufReadExt, AsyncWriteExt, BufReader};

fn settings(db: &TestDb) -> Settings {
    Settings {
        database_url: db.url.clone(),
        data_dir: db.dir.path().join("data"),
        keys_dir: db.dir.path().join("keys"),
        issuer: "https://login.example.org".into(),
        ..Default::default()
    }
}

async fn member_with_account(store: &Store, key: &str, email: &str) {
    let data = MemberData {
        kind: Kind::Person,
        first_name: Some("Ann".into()),
        email: Some(email.into()),
        ..Default::default()
    };
    store
        .add_member_with_account("test", key, data, Some((email, Role::Member)))
        .await
        .unwrap();
}

/// The token in the set-password link of a mail.
fn token_in(text: &str) -> String {
    let start = text
        .find("https://login.example.org/set-password?token=")
        .expect("link in the mail")
        + "https://login.example.org/set-password?token=".len();
    text[start..]
        .chars()
        .take_while(|c| c.is_ascii_alphanumeric() || *c == '-' || *c == '_')
        .collect()
}

/// Sends links as the test actor, through `mailer`, for the issuer of the settings it was
/// made from.
struct Links {
    mailer: Mailer,
    issuer: String,
}

impl Links {
    fn new(s: &Settings) -> Links {
        Links {
            mailer: Mailer::new(&s.mail, &s.data_dir).unwrap(),
            issuer: s.issuer().to_string(),
        }
    }

    async fn send(
        &self,
        store: &Store,
        member_key: &str,
        purpose: Purpose,
    ) -> Result<invitations::Sent, InvitationError> {
        invitations::send_link(
            store,
            &self.mailer,
            &self.issuer,
            "test",
            member_key,
            purpose,
            None,
            None,
        )
        .await
    }

    /// Sends a link to a folder and reads its token back from the mail.
    async fn token(&self, store: &Store, member_key: &str, purpose: Purpose) -> String {
        let sent = self.send(store, member_key, purpose).await.unwrap();
        token_in(&file_of(&sent.delivery))
    }
}

/// Checking the link and setting a password with it are both refused with an error that `is`
/// accepts.
async fn assert_link_refused(store: &Store, token: &str, is: fn(&InvitationError) -> bool) {
    let checked = invitations::check_link(store, token).await.err();
    assert!(checked.as_ref().is_some_and(is), "check: {checked:?}");
    let used = invitations::set_password_with_link(store, token, "a long new password").await;
    let used = used.err();
    assert!(used.as_ref().is_some_and(is), "set a password: {used:?}");
}

fn file_of(delivery: &Delivery) -> String {
    match delivery {
        Delivery::File(p) => std::fs::read_to_string(p).unwrap(),
        Delivery::Smtp => panic!("expected a file"),
    }
}

both_engines!(
    invitation_link_sets_the_password_once,
    |db: TestDb| async move {
        let store = db.store().await;
        let s = settings(&db);
        let links = Links::new(&s);
        member_with_account(&store, "M1", "ann@example.org").await;

        let first = links.send(&store, "M1", Purpose::Invitation).await.unwrap();
        let sent = links.send(&store, "M1", Purpose::Invitation).await.unwrap();
        assert_eq!(sent.to, "ann@example.org");
        let mail = file_of(&sent.delivery);
        assert!(mail.contains("To: ann@example.org"));
        let token = token_in(&mail);
        assert_eq!(token.len(), 43);
        // A newer invitation replaces the older one.
        let old = token_in(&file_of(&first.delivery));
        assert!(matches!(
            invitations::check_link(&store, &old).await,
            Err(InvitationError::InvalidLink)
        ));

        // Only the hash is stored.
        let (stored,): (String,) = sqlx::query_as("SELECT token_hash FROM account_tokens")
            .fetch_one(store.pool())
            .await
            .unwrap();
        assert_ne!(stored, token);

        let info = invitations::check_link(&store, &token).await.unwrap();
        assert_eq!(info.login_email, "ann@example.org");
        assert_eq!(info.purpose, Purpose::Invitation);
        assert!(matches!(
            invitations::set_password_with_link(&store, &token, "short").await,
            Err(InvitationError::Password(_))
        ));
        // A failed policy check does not use the link up.
        let account = invitations::set_password_with_link(&store, &token, "a long new password")
            .await
            .unwrap();
        assert!(account.has_password() && !account.must_change_password);
        assert!(store
            .verify_password("a long new password".into(), account.password_hash.clone())
            .await
            .unwrap());
        assert!(matches!(
            invitations::set_password_with_link(&store, &token, "another long password").await,
            Err(InvitationError::InvalidLink)
        ));
        assert!(matches!(
            invitations::check_link(&store, "made-up").await,
            Err(InvitationError::InvalidLink)
        ));

        // Two requests racing with one reset link: exactly one wins.
        let token = links.token(&store, "M1", Purpose::PasswordReset).await;
        let (a, b) = tokio::join!(
            invitations::set_password_with_link(&store, &token, "first racing password"),
            invitations::set_password_with_link(&store, &token, "second racing password"),
        );
        assert_eq!(a.is_ok() as u8 + b.is_ok() as u8, 1, "{a:?} {b:?}");
        let actions: Vec<String> = store
            .recent_changes(20, None)
            .await
            .unwrap()
            .into_iter()
            .map(|c| c.action)
            .collect();
        assert!(actions.contains(&"invitation_sent".to_string()));
        assert!(actions.contains(&"password_reset_sent".to_string()));
    }
);

both_engines!(
    expired_links_and_deactivated_accounts_are_refused,
    |db: TestDb| async move {
        let store = db.store().await;
        let mut s = settings(&db);
        s.mail.password_reset_lifetime_secs = 1;
        let links = Links::new(&s);
        member_with_account(&store, "M1", "ann@example.org").await;
        member_with_account(&store, "M2", "bob@example.org").await;

        let token = links.token(&store, "M1", Purpose::PasswordReset).await;
        tokio::time::sleep(Duration::from_millis(1_100)).await;
        assert_link_refused(&store, &token, |e| {
            matches!(e, InvitationError::InvalidLink)
        })
        .await;

        // A link issued before the account was deactivated does not work.
        let token = links.token(&store, "M2", Purpose::Invitation).await;
        store.deactivate_account("test", "M2").await.unwrap();
        assert_link_refused(&store, &token, |e| {
            matches!(e, InvitationError::AccountNotActive)
        })
        .await;
        assert!(!store.account_for_member("M2").await.unwrap().has_password());
        // Reactivating does not revive the link.
        store.reactivate_account("test", "M2").await.unwrap();
        assert!(matches!(
            invitations::check_link(&store, &token).await,
            Err(InvitationError::InvalidLink)
        ));
        store.deactivate_account("test", "M2").await.unwrap();
        // And a deactivated account gets no link.
        assert!(matches!(
            links.send(&store, "M2", Purpose::Invitation).await,
            Err(InvitationError::AccountNotActive)
        ));
        // No account, no link.
        store
            .add_member(
                "test",
                "M3",
                MemberData {
                    kind: Kind::Person,
                    last_name: Some("Nobody".into()),
                    ..Default::default()
                },
            )
            .await
            .unwrap();
        assert!(links.send(&store, "M3", Purpose::Invitation).await.is_err());
    }
);

/// A minimal SMTP server that accepts one message and hands back its DATA.
async fn smtp_double() -> (u16, tokio::task::JoinHandle<(Vec<String>, String)>) {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let task = tokio::spawn(async move {
        let (socket, _) = listener.accept().await.unwrap();
        let (read, mut write) = socket.into_split();
        let mut lines = BufReader::new(read).lines();
        let mut commands = Vec::new();
        let mut data = String::new();
        write.write_all(b"220 double ESMTP\r\n").await.unwrap();
        while let Some(line) = lines.next_line().await.unwrap() {
            let upper = line.to_ascii_uppercase();
            commands.push(line.clone());
            if upper.starts_with("EHLO") {
                write
                    .write_all(b"250-double\r\n250 8BITMIME\r\n")
                    .await
                    .unwrap();
            } else if upper.starts_with("DATA") {
                write.write_all(b"354 go ahead\r\n").await.unwrap();
                while let Some(l) = lines.next_line().await.unwrap() {
                    if l == "." {
                        break;
                    }
                    data.push_str(&l);
                    data.push('\n');
                }
                write.write_all(b"250 queued\r\n").await.unwrap();
            } else if upper.starts_with("QUIT") {
                write.write_all(b"221 bye\r\n").await.unwrap();
                break;
            } else {
                write.write_all(b"250 ok\r\n").await.unwrap();
            }
        }
        (commands, data)
    });
    (port, task)
}

both_engines!(smtp_delivery, |db: TestDb| async move {
    let store = db.store().await;
    let (port, server) = smtp_double().await;
    let mut s = settings(&db);
    s.mail.smtp_url = Some(format!("smtp://127.0.0.1:{port}"));
    s.mail.from = "Example Association <no-reply@example.org>".into();
    let links = Links::new(&s);
    member_with_account(&store, "M1", "ann@example.org").await;
    let sent = links.send(&store, "M1", Purpose::Invitation).await.unwrap();
    assert_eq!(sent.delivery, Delivery::Smtp);
    drop(links);
    let (commands, data) = tokio::time::timeout(Duration::from_secs(20), server)
        .await
        .expect("SMTP conversation ended")
        .unwrap();
    assert!(
        commands
            .iter()
            .any(|c| c.contains("MAIL FROM:<no-reply@example.org>")),
        "{commands:?}"
    );
    assert!(
        commands
            .iter()
            .any(|c| c.contains("RCPT TO:<ann@example.org>")),
        "{commands:?}"
    );
    let token = token_in(&data);
    invitations::set_password_with_link(&store, &token, "a long new password")
        .await
        .unwrap();
    assert!(
        !db.dir.path().join("data/mail").exists(),
        "nothing written to the folder"
    );

    // An unreachable server: an error, and the link that was never sent does not work.
    let mut s = settings(&db);
    s.mail.smtp_url = Some(format!("smtp://127.0.0.1:{}", crate::support::free_port()));
    let links = Links::new(&s);
    let err = links
        .send(&store, "M1", Purpose::PasswordReset)
        .await
        .unwrap_err();
    assert!(matches!(err, InvitationError::Mail(_)), "{err}");
    let unused = "SELECT COUNT(*) FROM account_tokens WHERE used_at IS NULL";
    assert_eq!(count(&store, unused).await, 0);
});

both_engines!(member_invite_cli, |db: TestDb| async move {
    cli_line(
        &db,
        "member add --key M1 --first-name Ann --email ann@example.org --account",
    );
    let out = cli_line(&db, "member invite M1");
    assert!(
        out.contains("invitation for ann@example.org written to"),
        "{out}"
    );
    assert!(
        !out.contains("token="),
        "the link is only in the mail: {out}"
    );
    let mail_dir = db.dir.path().join("data/mail");
    let files: Vec<_> = std::fs::read_dir(&mail_dir).unwrap().collect();
    assert_eq!(files.len(), 1);
    let out = cli_line(&db, "member invite M1 --reset");
    assert!(out.contains("password reset"), "{out}");
    cli_line(&db, "member deactivate M1");
    let err = cli_err(&db, "member invite M1");
    assert!(err.contains("deactivated"), "{err}");
    cli_err(&db, "member invite NOPE");
});
