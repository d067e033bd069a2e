"""The use cases, one function each, between the adapters (edge, API, console, CLI) and
store + domain. Each takes the caller (where rights matter) and returns records or raises
the exception tree; each rule (what an affiliate may see, which configs fire) lives here
once."""
