package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"sync/atomic"
	"time"
)

// tlsServerName is the name in the upstream's certificate (with
// 127.0.0.1 as an IP SAN) that every proxy checks.
const tlsServerName = "genesys.bench.test"

// benchCA is the throwaway certificate authority of one harness run and
// the upstream's certificate signed by it. Both live only in the run's
// temporary directory.
type benchCA struct {
	CAFile string // PEM of the CA certificate: what the proxies trust
	cert   tls.Certificate
}

// newBenchCA makes a self-signed ECDSA P-256 CA valid for a day and a
// leaf for tlsServerName and 127.0.0.1, and writes the CA's PEM into dir.
func newBenchCA(dir string) (*benchCA, error) {
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	now := time.Now()
	caTmpl := &x509.Certificate{
		SerialNumber:          big.NewInt(1),
		Subject:               pkix.Name{CommonName: "callfix-bench CA"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(24 * time.Hour),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	caCert, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, err
	}
	leafKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	leafTmpl := &x509.Certificate{
		SerialNumber: big.NewInt(2),
		Subject:      pkix.Name{CommonName: tlsServerName},
		DNSNames:     []string{tlsServerName},
		IPAddresses:  []net.IP{net.IPv4(127, 0, 0, 1)},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	leafDER, err := x509.CreateCertificate(rand.Reader, leafTmpl, caCert, &leafKey.PublicKey, caKey)
	if err != nil {
		return nil, err
	}
	ca := &benchCA{CAFile: filepath.Join(dir, "bench-ca.pem")}
	if err := os.WriteFile(ca.CAFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}), 0o644); err != nil {
		return nil, err
	}
	ca.cert = tls.Certificate{Certificate: [][]byte{leafDER, caDER}, PrivateKey: leafKey}
	return ca, nil
}

// tlsCounters count what happens on the upstream's TLS listener.
type tlsCounters struct {
	conns      atomic.Int64 // TCP connections accepted
	handshakes atomic.Int64 // handshakes completed (full and resumed)
	resumed    atomic.Int64 // … of them resumed from a session ticket
}

// serverConfig is the upstream's TLS configuration: TLS 1.2 and 1.3 with
// Go's defaults (session tickets on, so that a proxy can resume), each
// completed handshake counted through VerifyConnection, which runs on
// every handshake, resumed or not.
func (c *tlsCounters) serverConfig(cert tls.Certificate) *tls.Config {
	return &tls.Config{
		Certificates: []tls.Certificate{cert},
		MinVersion:   tls.VersionTLS12,
		VerifyConnection: func(cs tls.ConnectionState) error {
			c.handshakes.Add(1)
			if cs.DidResume {
				c.resumed.Add(1)
			}
			return nil
		},
	}
}

// countingListener counts accepted connections.
type countingListener struct {
	net.Listener
	n *atomic.Int64
}

func (l countingListener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err == nil {
		l.n.Add(1)
	}
	return c, err
}

// startTLS serves the same handler over TLS on another loopback port,
// with the certificate of ca, and returns that address.
func (u *upstream) startTLS(ca *benchCA) (string, error) {
	if u.tls != nil {
		return "", fmt.Errorf("the upstream already serves TLS")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	u.tls = &tlsCounters{}
	tln := tls.NewListener(countingListener{ln, &u.tls.conns}, u.tls.serverConfig(ca.cert))
	go func() { _ = u.srv.Serve(tln) }()
	return ln.Addr().String(), nil
}
