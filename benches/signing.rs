//! Micro-benchmarks of the per-request work: strict re-encoding of the path
//! and query, and V4 header signing of a typical PUT.
//!
//! Run with `cargo bench --bench signing`.

use std::hint::black_box;
use std::time::SystemTime;

use criterion::{Criterion, criterion_group, criterion_main};
use zenko_signing_proxy::credentials::Credentials;
use zenko_signing_proxy::sign::v4::V4Signer;
use zenko_signing_proxy::uri::{PlusInPath, Query, canonical_path};

fn typical_put() -> http::request::Parts {
    http::Request::put("http://127.0.0.1:8000/bucket/photos/2024/holiday%20pic+1.jpg")
        .header("host", "127.0.0.1:8000")
        .header("content-type", "image/jpeg")
        .header("content-md5", "1B2M2Y8AsgTpgAmY7PhCfg==")
        .header("x-amz-meta-camera", "x100")
        .header("user-agent", "curl/8.5")
        .header("content-length", "1048576")
        .body(())
        .unwrap()
        .into_parts()
        .0
}

fn sign_v4(c: &mut Criterion) {
    let credentials = Credentials::new(
        "AKIDEXAMPLE",
        "wJalrXUtnFEMI/K7MDENG+bPxRfiCYEXAMPLEKEY",
        None,
    );
    let signer = V4Signer::new(&credentials, "us-east-1");
    let hash = "44ce7dd67c959e0d3524ffac1771dfbba87d2b6b4b4e99e42034a8b803f8b072";
    c.bench_function("v4 header signing, typical PUT", |b| {
        b.iter_batched(
            typical_put,
            |mut parts| {
                signer.sign(&mut parts, hash, SystemTime::now()).unwrap();
                black_box(parts)
            },
            criterion::BatchSize::SmallInput,
        )
    });
}

fn rewrite_uri(c: &mut Criterion) {
    c.bench_function("strict path and query re-encoding", |b| {
        b.iter(|| {
            let path = canonical_path(black_box("/bucket/dir/a+b%20c:@'é.txt"), PlusInPath::Space);
            let query = Query::parse(black_box(
                "partNumber=3&uploadId=a%2Bb/c%3D&x-id=UploadPart",
            ));
            black_box((path.unwrap(), query.unwrap().to_wire()))
        })
    });
}

criterion_group!(benches, sign_v4, rewrite_uri);
criterion_main!(benches);
