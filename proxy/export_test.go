package proxy

// PathNotNormal exposes pathProblem to the socket-level tests (package
// proxy_test) without a seam in the package's API.
func PathNotNormal(path string) bool { return pathProblem([]byte(path)) != "" }
