//! The official Python client (`pip install kubernetes`) against the server.

use crate::Cluster;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_python_client_works_unchanged() {
    let c = Cluster::start().await;
    let script = concat!(env!("CARGO_MANIFEST_DIR"), "/tests/python/client.py");
    // scripts/install-deps.sh puts the client in a virtualenv under target/.
    let venv = concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../target/python/bin/python3"
    );
    let python = if std::path::Path::new(venv).exists() {
        venv
    } else {
        "python3"
    };
    let out = tokio::process::Command::new(python)
        .arg(script)
        .env("KUBECONFIG", c.kubeconfig())
        .output()
        .await
        .expect("python3 runs");
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(
        !stderr.contains("No module named 'kubernetes'"),
        "the Python client is missing: run scripts/install-deps.sh"
    );
    assert!(out.status.success(), "{stdout}\n{stderr}");
    assert!(stdout.contains("all ok"), "{stdout}");
}
