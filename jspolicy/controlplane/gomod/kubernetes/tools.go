//go:build tools

// Package tools records what the jspolicy control plane builds, so go mod tidy keeps it.
package tools

import (
	_ "k8s.io/kubernetes/cmd/kube-apiserver"
	_ "k8s.io/kubernetes/cmd/kubectl"
)
