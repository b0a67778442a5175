//! The HTTP server: routes, middleware, graceful shutdown.

use std::sync::Arc;
use std::time::Duration;

use axum::extract::State;
use axum::http::{HeaderName, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::json;
use tokio::net::TcpListener;
use tower_http::request_id::{MakeRequestUuid, PropagateRequestIdLayer, SetRequestIdLayer};
use tower_http::timeout::TimeoutLayer;
use tower_http::trace::TraceLayer;

use crate::db::{Store, StoreError};
use crate::mail::Mailer;
use crate::settings::Settings;

/// What every handler can reach.
#[derive(Clone)]
pub struct AppState {
    pub store: Store,
    pub settings: Arc<Settings>,
    /// The OpenID Connect provider: issuer, signing keys, clients.
    pub oidc: Arc<crate::oidc::provider::Provider>,
    /// Outgoing mail (invitations, password resets), built once from `[mail]`.
    pub mailer: Mailer,
}

/// Errors of the HTTP layer, each mapped to one status in [`IntoResponse`].
#[derive(Debug, thiserror::Error)]
pub enum HttpError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("service unavailable: {0}")]
    Unavailable(String),
}

impl IntoResponse for HttpError {
    fn into_response(self) -> Response {
        let (status, message) = match &self {
            HttpError::Store(StoreError::NotFound(what)) => {
                (StatusCode::NOT_FOUND, format!("{what} not found"))
            }
            HttpError::Store(StoreError::Invalid(msg)) => (StatusCode::BAD_REQUEST, msg.clone()),
            HttpError::Store(StoreError::Conflict(msg)) => (StatusCode::CONFLICT, msg.clone()),
            HttpError::Unavailable(msg) => (StatusCode::SERVICE_UNAVAILABLE, msg.clone()),
            HttpError::Store(other) => {
                tracing::error!(error = %other, "request failed");
                (
                    StatusCode::INTERNAL_SERVER_ERROR,
                    "internal error".to_string(),
                )
            }
        };
        (status, Json(json!({ "error": message }))).into_response()
    }
}

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static("x-request-id");
    // With a management address, the metrics stay off the public listener.
    let probes = if state.settings.metrics_listen.is_none() {
        probes().route("/metrics", get(metrics))
    } else {
        probes()
    };
    probes
        .nest("/admin/api", crate::admin::api::router())
        .merge(crate::oidc::routes::router(&state))
        .merge(crate::admin::console::router(&state))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(TraceLayer::new_for_http().make_span_with(request_span))
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The span of a request: method and path only. Query strings carry `state`, `nonce` and
/// (at `/logout`) an ID token, so they are never logged.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    tracing::debug_span!(
        "request",
        method = %request.method(),
        path = %request.uri().path(),
    )
}

/// Liveness and readiness, on every listener.
fn probes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The management listener (`metrics_listen`): metrics and the probes, nothing else.
pub fn management_router(state: AppState) -> Router {
    probes()
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            Duration::from_secs(30),
        ))
}

/// Prometheus metrics (the Higher Logic sync's queue, pushes, failures and latency).
async fn metrics(State(state): State<AppState>) -> Result<Response, HttpError> {
    let text = crate::higher_logic::metrics::render(&state.store).await?;
    Ok((
        [(
            axum::http::header::CONTENT_TYPE,
            "text/plain; version=0.0.4; charset=utf-8",
        )],
        text,
    )
        .into_response())
}

/// Liveness: the process answers.
async fn healthz() -> &'static str {
    "ok"
}

/// Readiness: the database answers too.
async fn readyz(State(state): State<AppState>) -> Result<&'static str, HttpError> {
    state
        .store
        .ping()
        .await
        .map_err(|e| HttpError::Unavailable(format!("database: {e}")))?;
    Ok("ready")
}

/// Serves until SIGINT or SIGTERM, then finishes the requests in flight.
pub async fn serve(settings: Settings, store: Store) -> anyhow::Result<()> {
    // The keys folder also opens the secrets kept in the database (set once; harmless if the
    // caller did it already).
    let store = store
        .with_keys_dir(&settings.keys_dir)
        .with_password_settings(settings.passwords.clone());
    let listener = TcpListener::bind(settings.listen)
        .await
        .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
    let addr = listener.local_addr()?;
    let management = match settings.metrics_listen {
        Some(at) => Some(
            TcpListener::bind(at)
                .await
                .map_err(|e| anyhow::anyhow!("cannot listen on {at} (metrics_listen): {e}"))?,
        ),
        None => None,
    };
    let oidc = crate::oidc::provider::Provider::start(
        &store,
        settings.issuer(),
        &settings.keys_dir,
        &settings.signing,
        settings.throttle.clone(),
    )
    .await?;
    let mailer = Mailer::new(&settings.mail, &settings.data_dir)?;
    crate::oidc::grants::spawn_cleanup(store.clone());
    let sync_worker = if settings.higher_logic.worker {
        Some(crate::higher_logic::worker::spawn(
            store.clone(),
            settings.higher_logic.clone(),
        )?)
    } else {
        None
    };
    let state = AppState {
        store: store.clone(),
        settings: Arc::new(settings),
        oidc,
        mailer,
    };
    tracing::info!(%addr, issuer = %state.settings.issuer(), "listening");
    println!(
        "Guildgate listening on http://{addr} (issuer {})",
        state.settings.issuer()
    );
    // One signal stops both listeners.
    let (stopping, stop_rx) = tokio::sync::watch::channel(false);
    let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
        let _ = rx.wait_for(|stop| *stop).await;
    };
    let management = match management {
        Some(listener) => {
            let at = listener.local_addr()?;
            tracing::info!(%at, "metrics listening");
            println!("Metrics on http://{at}/metrics");
            let app = management_router(state.clone());
            let stop = stopped(stop_rx.clone());
            Some(tokio::spawn(async move {
                axum::serve(listener, app)
                    .with_graceful_shutdown(stop)
                    .await
            }))
        }
        None => None,
    };
    tokio::spawn(async move {
        shutdown_signal().await;
        let _ = stopping.send(true);
    });
    let served = axum::serve(
        listener,
        router(state).into_make_service_with_connect_info::<std::net::SocketAddr>(),
    )
    .with_graceful_shutdown(stopped(stop_rx))
    .await;
    // Whatever happened to the listeners, the worker stops and the store closes before the
    // error (if any) is returned.
    let management = match management {
        Some(task) => match task.await {
            Ok(result) => result.map_err(anyhow::Error::from),
            Err(e) => Err(anyhow::Error::from(e)),
        },
        None => Ok(()),
    };
    // Let the sync worker finish the push in flight: its claims would otherwise wait for
    // their lease to expire.
    if let Some((stop, task)) = sync_worker {
        let _ = stop.send(true);
        let _ = task.await;
    }
    store.close().await;
    served?;
    management?;
    tracing::info!("stopped");
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let terminate = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let terminate = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {},
        _ = terminate => {},
    }
}
