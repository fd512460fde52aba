//! `server.request_body_timeout`: a request body must arrive in full within
//! this time of its headers, or the request ends with `408` and the
//! connection is closed. actix bounds only the wait for the headers; without
//! this, a client announcing a large `Content-Length` and sending a byte now
//! and then holds a connection (and a file descriptor) forever.

use std::future::Future;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;

use actix_web::body::MessageBody;
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::error::PayloadError;
use actix_web::middleware::Next;
use actix_web::web::Bytes;
use actix_web::{web, Error, HttpMessage};
use futures_core::Stream;
use tokio::time::Sleep;

use super::AppState;

/// Middleware: wraps the request's body in [`DeadlinePayload`].
pub async fn limit_body_time(
    mut request: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<impl MessageBody>, Error> {
    if let Some(state) = request.app_data::<web::Data<AppState>>() {
        let limit = state.settings.server.request_body_timeout;
        let inner = request.take_payload();
        let payload: Pin<Box<dyn Stream<Item = Result<Bytes, PayloadError>>>> =
            Box::pin(DeadlinePayload::new(inner, limit));
        request.set_payload(Payload::from(payload));
    }
    next.call(request).await
}

/// A body stream that fails with `TimedOut` once its deadline has passed.
struct DeadlinePayload {
    inner: Payload,
    deadline: Pin<Box<Sleep>>,
    expired: bool,
}

impl DeadlinePayload {
    fn new(inner: Payload, limit: Duration) -> DeadlinePayload {
        DeadlinePayload {
            inner,
            deadline: Box::pin(tokio::time::sleep(limit)),
            expired: false,
        }
    }
}

impl Stream for DeadlinePayload {
    type Item = Result<Bytes, PayloadError>;

    fn poll_next(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let this = self.get_mut();
        if this.expired {
            return Poll::Ready(None);
        }
        if let Poll::Ready(item) = Pin::new(&mut this.inner).poll_next(cx) {
            return Poll::Ready(item);
        }
        match this.deadline.as_mut().poll(cx) {
            Poll::Ready(()) => {
                this.expired = true;
                Poll::Ready(Some(Err(PayloadError::Io(std::io::Error::new(
                    std::io::ErrorKind::TimedOut,
                    "the request body did not arrive in time",
                )))))
            }
            Poll::Pending => Poll::Pending,
        }
    }
}

/// Whether a body read failed because of [`limit_body_time`].
pub fn is_body_timeout(error: &PayloadError) -> bool {
    matches!(error, PayloadError::Io(e) if e.kind() == std::io::ErrorKind::TimedOut)
}
