// Package deploy holds callfix's deployment files: the container image, Kubernetes
// manifests (sidecar and standalone), a Compose stack with a trace viewer and a systemd unit.
// It has no code; its tests check those files against the binary's real flags, keys and defaults.
package deploy
