//go:build tools

// Package tools records what the jspolicy control plane builds, so go mod tidy keeps it.
package tools

import _ "go.etcd.io/etcd/server/v3"
