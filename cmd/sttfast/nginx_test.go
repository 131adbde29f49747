package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// selfSignedPEM writes a self-signed certificate for 127.0.0.1 and its key into dir and returns
// their paths.
func selfSignedPEM(t *testing.T, dir string) (certFile, keyFile string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "127.0.0.1"},
		NotBefore:             time.Now().Add(-time.Hour),
		NotAfter:              time.Now().Add(24 * time.Hour),
		IPAddresses:           []net.IP{net.ParseIP("127.0.0.1")},
		KeyUsage:              x509.KeyUsageDigitalSignature | x509.KeyUsageCertSign,
		ExtKeyUsage:           []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
		BasicConstraintsValid: true,
		IsCA:                  true,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	certFile, keyFile = filepath.Join(dir, "cert.pem"), filepath.Join(dir, "key.pem")
	if err := os.WriteFile(certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(keyFile, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600); err != nil {
		t.Fatal(err)
	}
	return certFile, keyFile
}

// freePort returns a TCP port on 127.0.0.1 that was free a moment ago.
func freePort(t *testing.T) int {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	return l.Addr().(*net.TCPAddr).Port
}

// TestLoadCA: --ca's loader trusts the file's certificate, and refuses a missing file or one
// without a certificate as a usage error.
func TestLoadCA(t *testing.T) {
	dir := t.TempDir()
	certFile, keyFile := selfSignedPEM(t, dir)
	if c, err := loadCA(""); c != nil || err != nil {
		t.Fatalf("loadCA(\"\") = %v, %v; want nil, nil (the system roots)", c, err)
	}
	c, err := loadCA(certFile)
	if err != nil || c == nil || c.RootCAs == nil {
		t.Fatalf("loadCA(cert) = %v, %v; want a config with roots", c, err)
	}
	for _, bad := range []string{keyFile, filepath.Join(dir, "missing.pem")} {
		var u usageError
		if _, err := loadCA(bad); !errors.As(err, &u) {
			t.Fatalf("loadCA(%s) = %v; want a usage error", bad, err)
		}
	}
}

// TestDialWSSThroughNginx is issue 12's must-show: dial --addr wss://... reaches listen --once
// on ws:// through a real TLS-terminating reverse proxy (Debian's nginx, installed by
// .ci/setup-proxy), trusting the proxy's self-signed certificate with --ca, and every byte of a
// 16 MiB random file arrives. It skips where nginx is not installed or cannot start.
func TestDialWSSThroughNginx(t *testing.T) {
	nginx, err := exec.LookPath("nginx")
	if err != nil {
		t.Skip("nginx is not in PATH (.ci/setup-proxy installs it on Debian as root)")
	}
	dir := t.TempDir()
	certFile, keyFile := selfSignedPEM(t, dir)
	seed := writeSeed(t, "stt.seed")
	size := 16 << 20
	in, sum := randomFile(t, size, 31)
	l := startProc(t, "listen", nil, nil, "listen", "--addr", "ws://127.0.0.1:0/stt", "--seed", seed, "--once")
	u, err := url.Parse(l.wsListenAddr())
	if err != nil {
		t.Fatal(err)
	}
	port := freePort(t)
	for _, d := range []string{"logs", "client_body", "proxy", "fastcgi", "uwsgi", "scgi"} {
		if err := os.Mkdir(filepath.Join(dir, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	conf := filepath.Join(dir, "nginx.conf")
	user := ""
	if os.Getuid() == 0 {
		user = "user root;\n" // the workers read the temp dir, which is root's
	}
	// master_process off: one process, nothing forked that could outlive the test's kill.
	err = os.WriteFile(conf, []byte(fmt.Sprintf(`%[1]smaster_process off;
pid %[2]s/nginx.pid;
error_log %[2]s/logs/error.log info;
events { worker_connections 64; }
http {
	access_log %[2]s/logs/access.log;
	client_body_temp_path %[2]s/client_body;
	proxy_temp_path %[2]s/proxy;
	fastcgi_temp_path %[2]s/fastcgi;
	uwsgi_temp_path %[2]s/uwsgi;
	scgi_temp_path %[2]s/scgi;
	server {
		listen 127.0.0.1:%[3]d ssl;
		ssl_certificate %[4]s;
		ssl_certificate_key %[5]s;
		location /stt {
			proxy_pass http://%[6]s;
			proxy_http_version 1.1;
			proxy_set_header Upgrade $http_upgrade;
			proxy_set_header Connection "upgrade";
			proxy_read_timeout 300s;
			proxy_buffering off;
		}
	}
}
`, user, dir, port, certFile, keyFile, u.Host)), 0o644)
	if err != nil {
		t.Fatal(err)
	}
	noutFile := filepath.Join(dir, "logs", "stderr.log")
	nout, err := os.Create(noutFile) // a file, not a pipe: Wait never waits on a worker's copy
	if err != nil {
		t.Fatal(err)
	}
	defer nout.Close()
	cmd := exec.Command(nginx, "-c", conf, "-p", dir, "-g", "daemon off;")
	cmd.Stdout, cmd.Stderr = nout, nout
	nginxOut := func() string {
		b, _ := os.ReadFile(noutFile)
		logs, _ := os.ReadFile(filepath.Join(dir, "logs", "error.log"))
		return strings.TrimSpace(string(b) + "\n" + string(logs))
	}
	if err := cmd.Start(); err != nil {
		t.Skipf("nginx does not start: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	t.Cleanup(func() {
		_ = cmd.Process.Signal(syscall.SIGTERM) // nginx's fast shutdown
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			_ = cmd.Process.Kill()
			<-exited
		}
	})
	deadline := time.Now().Add(20 * time.Second) // the hang guard
	for {
		c, err := net.DialTimeout("tcp", fmt.Sprintf("127.0.0.1:%d", port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			msg := nginxOut()
			if strings.Contains(msg, "Permission denied") || strings.Contains(msg, "Operation not permitted") {
				t.Skipf("nginx cannot start here (%v): %s", err, msg)
			}
			t.Fatalf("nginx exited (%v): %s", err, msg)
		case <-time.After(50 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			t.Fatalf("nginx did not accept on 127.0.0.1:%d within 20s: %s", port, nginxOut())
		}
	}
	addr := fmt.Sprintf("wss://127.0.0.1:%d/stt", port)
	d := startProc(t, "dial", openFile(t, in), nil, "dial", "--addr", addr, "--seed", seed, "--ca", certFile)
	d.expectExit(0)
	l.expectExit(0)
	if l.outSize() != int64(size) {
		t.Fatalf("listen wrote %d bytes; dial sent %d through nginx", l.outSize(), size)
	}
	if got := l.outHash(); got != sum {
		t.Fatalf("sha256 received %s, sent %s", got, sum)
	}
	if logs, err := os.ReadFile(filepath.Join(dir, "logs", "access.log")); err != nil || !strings.Contains(string(logs), " 101 ") {
		t.Fatalf("nginx's access log shows no 101 upgrade (%v): %s", err, logs)
	}
}
