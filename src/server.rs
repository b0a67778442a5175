//! The HTTP server: routes, middleware, graceful shutdown.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::{MatchedPath, State};
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
use crate::web::headers::baseline_headers;

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

/// The header carrying each request's id (set when the caller sent none, echoed back).
const REQUEST_ID: &str = "x-request-id";

pub fn router(state: AppState) -> Router {
    let request_id = HeaderName::from_static(REQUEST_ID);
    // With a management address, the metrics stay off the public listener.
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);
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
            timeout,
        ))
        .layer(baseline_headers())
        .layer(axum::middleware::from_fn(count_request))
        .layer(PropagateRequestIdLayer::new(request_id.clone()))
        .layer(
            TraceLayer::new_for_http()
                .make_span_with(request_span)
                .on_response(log_response),
        )
        .layer(SetRequestIdLayer::new(request_id, MakeRequestUuid))
}

/// The span of a request: method, route template and request id. Never the path as sent nor
/// the query: query strings carry `state`, `nonce` and (at `/logout`) an ID token.
fn request_span(request: &axum::http::Request<axum::body::Body>) -> tracing::Span {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str);
    let request_id = request
        .headers()
        .get(REQUEST_ID)
        .and_then(|id| id.to_str().ok())
        .unwrap_or_default();
    tracing::info_span!(
        "request",
        method = %request.method(),
        route,
        request_id,
    )
}

/// Counts each request by route template, method and status (`guildgate_http_*`).
async fn count_request(request: axum::extract::Request, next: axum::middleware::Next) -> Response {
    let route = request
        .extensions()
        .get::<MatchedPath>()
        .map_or("(no route)", MatchedPath::as_str)
        .to_string();
    // Only the methods routes answer: a client-chosen method must not make new series.
    let method: &'static str = match request.method().as_str() {
        "GET" => "GET",
        "POST" => "POST",
        "PUT" => "PUT",
        "PATCH" => "PATCH",
        "DELETE" => "DELETE",
        "HEAD" => "HEAD",
        "OPTIONS" => "OPTIONS",
        _ => "other",
    };
    let started = std::time::Instant::now();
    let response = next.run(request).await;
    crate::oidc::metrics::request(
        &route,
        method,
        response.status().as_u16(),
        started.elapsed(),
    );
    response
}

/// The access line: one per request, at INFO, inside the request's span.
fn log_response(response: &Response, latency: Duration, _span: &tracing::Span) {
    tracing::info!(
        status = response.status().as_u16(),
        latency_ms = latency.as_millis() as u64,
        "request"
    );
}

/// Liveness and readiness, on every listener.
fn probes() -> Router<AppState> {
    Router::new()
        .route("/healthz", get(healthz))
        .route("/readyz", get(readyz))
}

/// The management listener (`metrics_listen`): metrics and the probes, nothing else.
pub fn management_router(state: AppState) -> Router {
    let timeout = Duration::from_secs(state.settings.request_timeout_secs);
    probes()
        .route("/metrics", get(metrics))
        .with_state(state)
        .layer(TimeoutLayer::with_status_code(
            StatusCode::REQUEST_TIMEOUT,
            timeout,
        ))
        .layer(baseline_headers())
}

/// Prometheus metrics (the Higher Logic sync's queue, pushes, failures and latency).
async fn metrics(State(state): State<AppState>) -> Result<Response, HttpError> {
    let mut text = crate::oidc::metrics::render(&state.store).await?;
    text.push_str(
        &crate::higher_logic::metrics::render(&state.store, state.settings.higher_logic.batch_size)
            .await?,
    );
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
    let app = Application::build(settings, store).await?;
    println!(
        "Guildgate listening on http://{} (issuer {})",
        app.address,
        app.state.settings.issuer()
    );
    if let Some(at) = app.management_address()? {
        println!("Metrics on http://{at}/metrics");
    }
    app.run_until_stopped().await
}

/// Everything `serve` runs, built and bound but not yet serving: the listeners, the provider,
/// the cleanup task and the sync worker. The tests build it on port 0 and read [`port`].
///
/// [`port`]: Application::port
pub struct Application {
    listener: TcpListener,
    address: SocketAddr,
    management: Option<TcpListener>,
    state: AppState,
    sync_worker: Option<SyncWorker>,
    janitor: crate::oidc::janitor::Janitor,
    /// Writes the provider's hourly activity counts.
    flusher: crate::activity::Flusher,
}

/// The worker's stop switch and its task.
type SyncWorker = (
    tokio::sync::watch::Sender<bool>,
    tokio::task::JoinHandle<()>,
);

impl Application {
    /// Binds the listeners and starts what runs beside them. An issuer naming port 0 (as the
    /// listen address does in tests) names the port actually bound.
    pub async fn build(mut settings: Settings, store: Store) -> anyhow::Result<Application> {
        // The keys folder also opens the secrets kept in the database (set once; harmless if
        // the caller did it already).
        let store = store
            .with_keys_dir(&settings.keys_dir)
            .with_password_settings(settings.passwords.clone());
        let listener = TcpListener::bind(settings.listen)
            .await
            .map_err(|e| anyhow::anyhow!("cannot listen on {}: {e}", settings.listen))?;
        let address = listener.local_addr()?;
        if let Some(host) = settings.issuer.trim_end_matches('/').strip_suffix(":0") {
            settings.issuer = format!("{host}:{}", address.port());
        }
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
        let janitor = crate::oidc::janitor::spawn(store.clone());
        let flusher = crate::activity::spawn_flusher(oidc.activity.clone(), store.clone());
        let sync_worker = if settings.higher_logic.worker {
            Some(crate::higher_logic::worker::spawn(
                store.clone(),
                settings.higher_logic.clone(),
            )?)
        } else {
            None
        };
        let state = AppState {
            store,
            settings: Arc::new(settings),
            oidc,
            mailer,
        };
        tracing::info!(%address, issuer = %state.settings.issuer(), "listening");
        Ok(Application {
            listener,
            address,
            management,
            state,
            sync_worker,
            janitor,
            flusher,
        })
    }

    /// The port the main listener is bound to.
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// What every handler reaches (the store, the settings with the issuer as bound).
    pub fn state(&self) -> &AppState {
        &self.state
    }

    fn management_address(&self) -> std::io::Result<Option<SocketAddr>> {
        self.management
            .as_ref()
            .map(TcpListener::local_addr)
            .transpose()
    }

    /// Serves until SIGINT or SIGTERM.
    pub async fn run_until_stopped(self) -> anyhow::Result<()> {
        self.run_until(shutdown_signal()).await
    }

    /// Serves until `stop` completes, then finishes the requests in flight, stops the worker
    /// and closes the store.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()> + Send + 'static,
    ) -> anyhow::Result<()> {
        let Application {
            listener,
            management,
            state,
            sync_worker,
            janitor,
            flusher,
            ..
        } = self;
        let store = state.store.clone();
        // One signal stops both listeners.
        let (stopping, stop_rx) = tokio::sync::watch::channel(false);
        let stopped = |mut rx: tokio::sync::watch::Receiver<bool>| async move {
            let _ = rx.wait_for(|stop| *stop).await;
        };
        let management = match management {
            Some(listener) => {
                tracing::info!(at = %listener.local_addr()?, "metrics listening");
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
            stop.await;
            let _ = stopping.send(true);
        });
        let served = axum::serve(
            listener,
            router(state).into_make_service_with_connect_info::<SocketAddr>(),
        )
        .with_graceful_shutdown(stopped(stop_rx))
        .await;
        // Whatever happened to the listeners, the worker stops and the store closes before
        // the error (if any) is returned.
        let management = match management {
            Some(task) => match task.await {
                Ok(result) => result.map_err(anyhow::Error::from),
                Err(e) => Err(anyhow::Error::from(e)),
            },
            None => Ok(()),
        };
        // Let the sync worker finish the push in flight: its claims would otherwise wait for
        // their lease to expire.
        for (stop, task) in sync_worker.into_iter().chain([janitor, flusher]) {
            let _ = stop.send(true);
            let _ = task.await;
        }
        store.close().await;
        served?;
        management?;
        tracing::info!("stopped");
        Ok(())
    }
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
