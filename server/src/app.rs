//! The application API: `Request`, `Response` and the `App` trait.

use crate::http::{Body, ResponseBody};

/// A request as the application sees it: an [`http::Request`] whose body
/// streams from the connection. Its body carries a
/// [`RequestInfo`](crate::RequestInfo), which
/// [`RequestExt::info`](crate::RequestExt::info) finds.
pub type Request = ::http::Request<Body>;

/// A response: an [`http::Response`] whose body is bytes or a reader.
pub type Response = ::http::Response<ResponseBody>;

/// An application: turns each request into a response, in blocking style.
///
/// It is shared by every connection of a worker, hence `Send + Sync`.
/// Closures implement it. A panic in `call` answers that request with 500
/// and closes its connection; the worker carries on.
///
/// # Examples
///
/// ```
/// use moss_server::{App, Request, Response};
/// let app = |_req: Request| Response::new("Hello, World!".into());
/// fn check(_: &impl App) {}
/// check(&app);
/// ```
pub trait App: Send + Sync {
    /// Answers one request.
    fn call(&self, request: Request) -> Response;
}

impl<F> App for F
where
    F: Fn(Request) -> Response + Send + Sync,
{
    fn call(&self, request: Request) -> Response {
        self(request)
    }
}

/// A boxed application, as [`apps::demo_app`](crate::apps::demo_app)
/// returns. (A blanket `impl App for Box<T>` would overlap the closures'
/// impl: `Box<F>` is itself a `Fn`.)
impl App for Box<dyn App> {
    fn call(&self, request: Request) -> Response {
        (**self).call(request)
    }
}

/// A shared application.
impl<T: App + ?Sized> App for std::sync::Arc<T> {
    fn call(&self, request: Request) -> Response {
        (**self).call(request)
    }
}
