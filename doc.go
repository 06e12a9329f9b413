// Package minsheng holds the core types every part of the gateway shares:
// the unified item schema (统一数据采集规范), the triage decision, and the
// contracts between sources, the pipeline, triage, the router and sinks.
//
// Import arrows point one way: cmd → connectors, triage, router, config,
// pipeline, store, auth → this package. Nothing here imports those.
package minsheng
