//! The Overview, the console's landing page: sign-ins per hour by outcome, tokens per
//! application, the sync's counts and its last errors, read from the database so that two
//! instances of one database show the same figures.

use reqwest::StatusCode;

use crate::support::app::get_page as get;
use crate::support::oidc::{browser, page_at, setup, submit_login, EMAIL};
use crate::support::people::add_admin_bob;
use crate::support::{poll, TestApp, TestDb};

const ADMIN_PASSWORD: &str = "correct horse battery staple";

both_engines!(
    the_overview_counts_what_every_instance_did,
    |db: TestDb| async move {
        let setup = setup(&db).await;
        add_admin_bob(&setup.store, ADMIN_PASSWORD).await;
        let first = TestApp::spawn(&db).await;
        let second = TestApp::spawn(&db).await;

        // On the first instance: a member signs in (code, then a refresh) and a wrong
        // password is refused.
        let member = browser();
        let tokens = first
            .tokens_for(&member, &setup.client_id, &setup.secret)
            .await;
        let refresh_token = tokens["refresh_token"].as_str().unwrap();
        let (status, _) = first
            .refresh(&setup.client_id, &setup.secret, refresh_token)
            .await;
        assert_eq!(status, 200);
        let stranger = browser();
        let page = page_at(&stranger, first.openid_url(&setup.client_id, &[])).await;
        let r = submit_login(&stranger, &first.base, &page, EMAIL, "not the password").await;
        assert_eq!(r.status(), StatusCode::UNAUTHORIZED);

        // An administrator signs in on the second: the console opens on the Overview, which
        // counts that sign-in at once and the first instance's once it has written them.
        let console = second.console("bob@example.org", ADMIN_PASSWORD).await;
        let page = poll(
            100,
            || async { console.page("/admin/overview").await.1 },
            |page: &String| page.contains("2 successful, 1 failed"),
        )
        .await;
        assert!(page.contains("2 successful, 1 failed"), "{page}");
        let tokens = section(&page, "tokens-per-application");
        assert!(
            tokens.contains(&format!("({})</td><td>2</td>", setup.client_id)),
            "{tokens}"
        );
        // The hour's row in the table.
        let hours = section(&page, "sign-in-hours");
        assert!(hours.contains("<td>2</td><td>1</td>"), "{hours}");
        assert!(page.contains("Not set up"), "{page}");
        assert!(page.contains("id=\"no-errors\""), "{page}");

        // `/admin` leads there too; a member is refused.
        let (status, _, location) = console.page("/admin").await;
        assert!(status.is_redirection());
        assert_eq!(location.as_deref(), Some("/admin/overview"));
        let (status, _, _) = get(&member, &second.url("/admin/overview")).await;
        assert!(
            status == StatusCode::FORBIDDEN || status.is_redirection(),
            "{status}"
        );
    }
);

/// The element with `id` up to the end of its table.
fn section<'a>(page: &'a str, id: &str) -> &'a str {
    let start = page
        .find(&format!("id=\"{id}\""))
        .unwrap_or_else(|| panic!("no #{id}: {page}"));
    let end = page[start..]
        .find("</table>")
        .map_or(page.len(), |e| start + e);
    &page[start..end]
}
