#[ringtide::main(worker_threads = 2, pin = false, worker_threads = 4)]
async fn main() {}
