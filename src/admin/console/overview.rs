//! The Overview, the console's landing page: sign-ins per hour for the last 48 hours, tokens
//! issued per application, where the Higher Logic sync stands and its last errors. Everything
//! comes from the database (every instance adds its counts there), so every instance shows the
//! same; the charts are SVG drawn here, with their numbers in a table beside them.

use askama::Template;
use axum::response::Response;

use super::{Admin, Chrome, ConsoleResult, Shown};
use crate::activity::{self, HourCount, Tally, HOUR_MS};
use crate::db::{format_ms, now_ms};

/// Hours in the sign-in chart.
const HOURS: usize = 48;
/// The sign-in chart's drawing, in SVG units.
const SLOT_WIDTH: i64 = 15;
const PLOT_HEIGHT: i64 = 140;
const PLOT_TOP: i64 = 10;
/// Parked contacts listed among the last errors.
const PARKED_SHOWN: i64 = 5;

/// One hour of the sign-in chart: where its two stacked bars are drawn, and what they say.
struct HourBar {
    x: i64,
    success_y: i64,
    success_height: i64,
    failure_y: i64,
    failure_height: i64,
    /// "14:00 UTC" every six hours, for the axis.
    tick: Option<String>,
    /// "6 Dec 14:00 UTC"
    when: String,
    success: i64,
    failure: i64,
}

/// A labelled horizontal bar (an application's tokens, a part of the sync queue).
struct Bar {
    label: String,
    value: i64,
    /// Its length in percent of the longest.
    percent: i64,
}

struct ErrorLine {
    when: String,
    what: String,
    message: String,
}

#[derive(Template)]
#[template(path = "admin/overview.html")]
struct OverviewPage {
    chrome: Chrome,
    hours: Vec<HourBar>,
    chart_width: i64,
    /// The top of the sign-in chart's scale.
    scale_top: i64,
    sign_ins_ok: i64,
    sign_ins_failed: i64,
    applications: Vec<Bar>,
    tokens_total: i64,
    sync_configured: bool,
    sync: Vec<Bar>,
    sync_state: String,
    last_success: Option<String>,
    errors: Vec<ErrorLine>,
}

/// The smallest of 1, 2, 5 × 10ⁿ at or above `n` (at least 1): the top of a chart's scale.
fn scale_top(n: i64) -> i64 {
    let mut step = 1;
    loop {
        for factor in [1, 2, 5] {
            if step * factor >= n {
                return step * factor;
            }
        }
        step *= 10;
    }
}

/// The counts of one tally per hour, oldest first, for the `HOURS` hours ending with the one
/// holding `now`.
fn per_hour(rows: &[HourCount], first_hour: i64) -> Vec<i64> {
    let mut out = vec![0; HOURS];
    for row in rows {
        let slot = (row.hour - first_hour) / HOUR_MS;
        if let Some(n) = usize::try_from(slot).ok().and_then(|i| out.get_mut(i)) {
            *n += row.count;
        }
    }
    out
}

/// The bars of the sign-in chart.
fn hour_bars(success: &[i64], failure: &[i64], first_hour: i64, top: i64) -> Vec<HourBar> {
    let height = |n: i64| n * PLOT_HEIGHT / top;
    (0..HOURS)
        .map(|i| {
            let hour = first_hour + i as i64 * HOUR_MS;
            let (ok, failed) = (success[i], failure[i]);
            let success_height = height(ok);
            let failure_height = height(ok + failed) - success_height;
            let base = PLOT_TOP + PLOT_HEIGHT;
            let clock = &format_ms(hour)[11..16];
            HourBar {
                x: i as i64 * SLOT_WIDTH,
                success_y: base - success_height,
                success_height,
                failure_y: base - success_height - failure_height,
                failure_height,
                tick: (hour % (6 * HOUR_MS) == 0).then(|| clock.to_string()),
                when: format!("{} {clock} UTC", &format_ms(hour)[..10]),
                success: ok,
                failure: failed,
            }
        })
        .collect()
}

/// Bars for `(label, value)` pairs, scaled on the largest.
fn bars(items: Vec<(String, i64)>) -> Vec<Bar> {
    let largest = items.iter().map(|(_, v)| *v).max().unwrap_or(0).max(1);
    items
        .into_iter()
        .map(|(label, value)| Bar {
            percent: value * 100 / largest,
            label,
            value,
        })
        .collect()
}

pub(super) async fn overview(admin: Admin) -> ConsoleResult<Response> {
    let store = admin.store();
    // This instance's counts first, so that what it just did is on its own page.
    if let Err(e) = admin.state.oidc.activity.flush(store).await {
        tracing::warn!(error = %e, "the activity counts could not be written");
    }
    let now = now_ms();
    let first_hour = activity::hour_of(now) - (HOURS as i64 - 1) * HOUR_MS;
    let success = per_hour(
        &activity::since(store, Tally::SignInSuccess, first_hour).await?,
        first_hour,
    );
    let failure = per_hour(
        &activity::since(store, Tally::SignInFailure, first_hour).await?,
        first_hour,
    );
    let busiest = (0..HOURS).map(|i| success[i] + failure[i]).max();
    let top = scale_top(busiest.unwrap_or(0));
    let hours = hour_bars(&success, &failure, first_hour, top);

    let mut per_client: Vec<(String, i64)> = Vec::new();
    for row in activity::since(store, Tally::TokensIssued, first_hour).await? {
        match per_client.iter_mut().find(|(id, _)| *id == row.label) {
            Some((_, n)) => *n += row.count,
            None => per_client.push((row.label, row.count)),
        }
    }
    let mut applications = Vec::new();
    for (client_id, n) in per_client {
        let name = match store.find_client(&client_id).await? {
            Some(client) => format!("{} ({client_id})", client.name),
            None => format!("{client_id} (removed)"),
        };
        applications.push((name, n));
    }
    applications.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    let tokens_total = applications.iter().map(|(_, n)| n).sum();

    let status = store.hl_status().await?;
    let (pushed, pushed_recently) = store.hl_pushed_counts(now - 24 * HOUR_MS).await?;
    let sync = bars(vec![
        ("Waiting to be pushed".into(), status.pending),
        ("Refused by Higher Logic (parked)".into(), status.parked),
        ("Pushed in the last 24 hours".into(), pushed_recently),
        ("In Higher Logic (pushed at least once)".into(), pushed),
    ]);
    let sync_state = match status.paused_until {
        Some(until) => format!("Paused until {} UTC.", format_ms(until)),
        None if status.pending > 0 => "Pushing.".into(),
        None => "Up to date.".into(),
    };
    let mut errors = Vec::new();
    if let (Some(message), Some(at)) = (&status.last_error, status.last_error_at) {
        errors.push(ErrorLine {
            when: format_ms(at),
            what: "Higher Logic".into(),
            message: message.clone(),
        });
    }
    for group in status.groups.iter().filter(|g| g.state == "error") {
        errors.push(ErrorLine {
            when: String::new(),
            what: format!("Group {}", group.name),
            message: group.last_error.clone().unwrap_or_default(),
        });
    }
    for parked in store.hl_parked(PARKED_SHOWN).await? {
        errors.push(ErrorLine {
            when: String::new(),
            what: format!("Member {}", parked.member_key),
            message: parked.error.unwrap_or_default(),
        });
    }
    admin
        .page("overview", Shown::ok(), |chrome| OverviewPage {
            chrome,
            chart_width: HOURS as i64 * SLOT_WIDTH,
            scale_top: top,
            sign_ins_ok: success.iter().sum(),
            sign_ins_failed: failure.iter().sum(),
            hours,
            applications: bars(applications),
            tokens_total,
            sync_configured: status.configured,
            sync,
            sync_state,
            last_success: status.last_success_at.map(format_ms),
            errors,
        })
        .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_scale_tops_at_one_two_or_five_times_a_power_of_ten() {
        let tops: Vec<i64> = [0, 1, 2, 3, 6, 10, 11, 49, 51, 999, 1001]
            .into_iter()
            .map(scale_top)
            .collect();
        assert_eq!(tops, [1, 1, 2, 5, 10, 10, 20, 50, 100, 1000, 2000]);
    }

    #[test]
    fn counts_fall_in_their_hour_and_bars_stack_within_the_plot() {
        let first = 100 * HOUR_MS;
        let rows = [
            HourCount {
                hour: first,
                label: String::new(),
                count: 3,
            },
            HourCount {
                hour: first + 47 * HOUR_MS,
                label: String::new(),
                count: 7,
            },
            // Outside the window: ignored, never a panic.
            HourCount {
                hour: first + 48 * HOUR_MS,
                label: String::new(),
                count: 9,
            },
            HourCount {
                hour: first - HOUR_MS,
                label: String::new(),
                count: 9,
            },
        ];
        let success = per_hour(&rows, first);
        assert_eq!(
            (success[0], success[47], success.iter().sum::<i64>()),
            (3, 7, 10)
        );
        let failure = vec![1; HOURS];
        let top = scale_top(8);
        let bars = hour_bars(&success, &failure, first, top);
        let last = &bars[47];
        assert_eq!(last.success_height, 7 * PLOT_HEIGHT / 10);
        assert_eq!(
            last.failure_y + last.failure_height,
            last.success_y,
            "the failures sit on the successes"
        );
        assert!(bars.iter().all(|b| b.failure_y >= PLOT_TOP));
        // 100 hours after the epoch is 04:00; ticks every six hours (06:00, 12:00...).
        assert_eq!(bars[2].tick.as_deref(), Some("06:00"));
        assert_eq!(bars[1].tick, None);
    }
}
