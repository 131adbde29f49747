package main

import (
	"crypto/tls"
	"crypto/x509"
	"os"
)

// caHelp is the --ca flag's help, shared by dial and bench.
const caHelp = "trust the PEM certificates in `FILE` (instead of the system's) for wss:// addresses,\ne.g. a reverse proxy's self-signed or private-CA certificate"

// loadCA reads a PEM file of CA certificates for wss:// dials: nil (the system roots) when path
// is empty, else a tls.Config that trusts exactly those certificates.
func loadCA(path string) (*tls.Config, error) {
	if path == "" {
		return nil, nil
	}
	pem, err := os.ReadFile(path)
	if err != nil {
		return nil, usagef("--ca: %v", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return nil, usagef("--ca %s: no PEM certificate in it", path)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}, nil
}
