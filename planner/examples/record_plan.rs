//! Writes the cache records a successful build of `CONTEXT/Dockerfile` would
//! write (for benchmarks and demos until the runner exists): `record_plan CONTEXT`.

fn main() {
    let context = std::env::args().nth(1).expect("usage: record_plan CONTEXT");
    let store = slipway_store::Store::open(slipway_store::default_root()).expect("open the store");
    let request = slipway_planner::request::Request {
        context: context.into(),
        ..Default::default()
    };
    let planned = match slipway_planner::request::plan_request(&request, &store) {
        Ok(p) => p,
        Err(slipway_planner::request::Failure::Io(e)) => panic!("{e}"),
        Err(slipway_planner::request::Failure::Invalid { diagnostics, .. }) => panic!("{diagnostics:?}"),
    };
    slipway_planner::plan::record(&planned.plan, &store, 0).expect("record");
    eprintln!("recorded {} steps", planned.plan.steps.len());
}
