#[ringtide::main(workers = 4)]
async fn main() {}

#[ringtide::test(flavor = "multi_thread")]
async fn unknown() {}
