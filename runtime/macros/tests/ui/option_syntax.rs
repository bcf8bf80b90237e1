#[ringtide::main(worker_threads)]
async fn main() {}

#[ringtide::test(pin(false))]
async fn list_form() {}
