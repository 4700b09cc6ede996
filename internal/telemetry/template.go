package telemetry

// FieldTemplate removes array indexes from a field path, as the metrics'
// field label does: participants[1].address → participants[].address.
// callfix report groups fields by it.
func FieldTemplate(path string) string { return template(path) }
