//! Running `nft` (the nftables package's command): a script is one kernel transaction, so a
//! failed script changes nothing.

use std::process::Stdio;

use tokio::io::AsyncWriteExt;
use tokio::process::Command;

use crate::Error;

/// Runs `script` with `nft -f -`.
pub async fn run(script: &str) -> Result<(), Error> {
    let mut child = Command::new("nft")
        .args(["-f", "-"])
        .stdin(Stdio::piped())
        .stdout(Stdio::null())
        .stderr(Stdio::piped())
        .spawn()
        .map_err(|e| Error::Command(format!("cannot run nft (is nftables installed?): {e}")))?;
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = script.as_bytes().to_vec();
    // Feed stdin while nft runs (a large script does not fit a pipe's buffer).
    let writer = tokio::spawn(async move {
        let _ = stdin.write_all(&input).await;
    });
    let out = child
        .wait_with_output()
        .await
        .map_err(|e| Error::Command(format!("nft: {e}")))?;
    let _ = writer.await;
    if out.status.success() {
        Ok(())
    } else {
        Err(Error::Nft(
            String::from_utf8_lossy(&out.stderr).trim().to_owned(),
        ))
    }
}

/// Deletes `table` (`table ip <name>`), if it exists.
pub async fn delete_table(table: &str) -> Result<(), Error> {
    run(&format!("add table ip {table}\ndelete table ip {table}\n")).await
}
