//! Integration tests: the proxy in front of real signature-verifying S3
//! servers (s3s-fs in process; radosgw when `.ci/run` starts it), driven by
//! unsigned clients.

mod cli;
mod clients;
mod commands;
mod failures;
mod memory;
mod objects;
mod security;
mod soak;
mod streaming;
mod tls;
// Not every helper of the harness is used by every test module.
#[allow(dead_code)]
mod support;
