//! Build + sign, and read + verify + compile, for each persona and for a synthetic bundle with
//! 10 MB of data. Run: `cargo bench -p regent-bundle --bench bundle`.
#![allow(clippy::unwrap_used, clippy::expect_used, clippy::panic, missing_docs)]

use std::path::{Path, PathBuf};
use std::time::Duration;

use criterion::{BenchmarkId, Criterion, Throughput, criterion_group, criterion_main};
use regent_bundle::{
    BuildOptions, KeyAlgorithm, Limits, SignOptions, SigningKey, TrustedKeys, build_dir,
    read_bundle, sign_bundle, validate, verify_bundle,
};

fn bundles_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../../bundles")
}

/// A folder with one policy and ~10 MB of data (an org directory of 60,000 employees).
fn synthetic_dir() -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    std::fs::create_dir_all(dir.path().join("directory")).unwrap();
    let employees: Vec<_> = (0..60_000)
        .map(|i| {
            let org = ["emea", "amer", "apac"][i % 3];
            serde_json::json!({
                "id": format!("e-{i:06}"),
                "name": format!("Employee Number {i}"),
                "org": org,
                "manager": format!("e-{:06}", i / 10),
                "roles": ["employee", if i % 50 == 0 { "hr_admin" } else { "staff" }],
                "cost_center": format!("cc-{}", i % 400),
            })
        })
        .collect();
    let data = serde_json::json!({ "employees": employees });
    std::fs::write(
        dir.path().join("directory/data.json"),
        serde_json::to_vec(&data).unwrap(),
    )
    .unwrap();
    std::fs::write(
        dir.path().join("directory/policy.rego"),
        "package directory\n\ndefault allow := false\n\nallow if data.directory.employees[_].id == input.id\n",
    )
    .unwrap();
    std::fs::write(dir.path().join("regent.yaml"), "roots: [directory]\n").unwrap();
    dir
}

fn sign_options(scope: Option<&str>) -> SignOptions {
    SignOptions {
        scope: scope.map(str::to_owned),
        iss: Some("bench".into()),
        iat: Some(1_764_000_000),
    }
}

fn benches(c: &mut Criterion) {
    let key = SigningKey::generate("bench", KeyAlgorithm::Es256).unwrap();
    let trusted = TrustedKeys::from_keys([key.public_key().clone()]).unwrap();
    let synthetic = synthetic_dir();
    let mut targets: Vec<(String, PathBuf)> = ["hr-bot", "it-bot", "dev-bot"]
        .iter()
        .map(|p| ((*p).to_owned(), bundles_dir().join(p)))
        .collect();
    targets.push(("synthetic-10mb".into(), synthetic.path().to_path_buf()));

    let mut group = c.benchmark_group("build_sign");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (name, dir) in &targets {
        let scope = (name != "synthetic-10mb").then_some(name.as_str());
        group.bench_with_input(BenchmarkId::from_parameter(name), dir, |b, dir| {
            b.iter(|| {
                let mut bundle = build_dir(dir, &BuildOptions::default()).unwrap();
                sign_bundle(&mut bundle, &key, &sign_options(scope)).unwrap();
                bundle.to_archive().unwrap()
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("read_verify_compile");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (name, dir) in &targets {
        let scope = (name != "synthetic-10mb").then_some(name.as_str());
        let mut bundle = build_dir(dir, &BuildOptions::default()).unwrap();
        sign_bundle(&mut bundle, &key, &sign_options(scope)).unwrap();
        let archive = bundle.to_archive().unwrap();
        group.throughput(Throughput::Bytes(bundle.size()));
        group.bench_with_input(BenchmarkId::from_parameter(name), &archive, |b, archive| {
            b.iter(|| {
                let bundle = read_bundle(archive, &Limits::DEFAULT).unwrap();
                verify_bundle(&bundle, &trusted, scope).unwrap();
                validate::compile(&bundle).unwrap()
            });
        });
    }
    group.finish();

    let mut group = c.benchmark_group("validate_with_tests");
    group
        .sample_size(10)
        .measurement_time(Duration::from_secs(8));
    for (name, dir) in targets.iter().filter(|(n, _)| n != "synthetic-10mb") {
        let bundle = build_dir(dir, &BuildOptions::default()).unwrap();
        group.bench_with_input(BenchmarkId::from_parameter(name), &bundle, |b, bundle| {
            b.iter(|| validate(bundle, None).unwrap());
        });
    }
    group.finish();
}

criterion_group!(bundle, benches);
criterion_main!(bundle);
