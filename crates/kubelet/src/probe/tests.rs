//! Tests of [`probe_once`] and [`run_handler`] against real listeners on 127.0.0.1 and a fake
//! [`Exec`].
