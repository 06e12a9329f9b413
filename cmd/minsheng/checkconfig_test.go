package main

import (
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"math/big"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// writeCert writes a self-signed certificate and its key in PEM.
func writeCert(t *testing.T, certPath, keyPath string) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), Subject: pkix.Name{CommonName: "kafka.test"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour), IsCA: true, BasicConstraintsValid: true}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	kder, err := x509.MarshalECPrivateKey(key)
	if err != nil {
		t.Fatal(err)
	}
	os.WriteFile(certPath, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}), 0o600)
	os.WriteFile(keyPath, pem.EncodeToMemory(&pem.Block{Type: "EC PRIVATE KEY", Bytes: kder}), 0o600)
}

// TestCheckConfigKafkaTLS: check-config --secrets reads Kafka's TLS files
// as run does at start, and names the field of a file run could not use.
func TestCheckConfigKafkaTLS(t *testing.T) {
	dir := t.TempDir()
	cert, key := filepath.Join(dir, "client.pem"), filepath.Join(dir, "client.key")
	writeCert(t, cert, key)
	notPEM := filepath.Join(dir, "ca.txt")
	os.WriteFile(notPEM, []byte("not a certificate\n"), 0o600)
	missing := filepath.Join(dir, "absent.pem")
	for _, tc := range []struct {
		name, tls, dest string
		want            string // a field the error names; "" for exit 0
	}{
		{"all in place", "{enabled: true, ca_file: " + cert + ", cert_file: " + cert + ", key_file: " + key + "}", "kafka", ""},
		{"CA file missing", "{enabled: true, ca_file: " + missing + "}", "kafka", "kafka.tls.ca_file"},
		{"CA file without a certificate", "{enabled: true, ca_file: " + notPEM + "}", "kafka", "kafka.tls.ca_file"},
		{"client certificate missing", "{enabled: true, cert_file: " + missing + ", key_file: " + key + "}", "kafka", "kafka.tls.cert_file"},
		{"key not the certificate's", "{enabled: true, cert_file: " + cert + ", key_file: " + notPEM + "}", "kafka", "kafka.tls.cert_file"},
		{"certificate without key", "{enabled: true, cert_file: " + cert + "}", "kafka", "kafka.tls.key_file"},
		{"key without certificate", "{enabled: true, key_file: " + key + "}", "kafka", "kafka.tls.cert_file"},
		{"TLS off: files not read", "{enabled: false, ca_file: " + missing + "}", "kafka", ""},
		{"no Kafka destination: files not read", "{enabled: true, ca_file: " + missing + "}", "queue", ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "minsheng.yaml")
			os.WriteFile(conf, []byte("kafka:\n  brokers: [127.0.0.1:9092]\n  tls: "+tc.tls+"\ndestinations:\n  petition: {sink: "+tc.dest+"}\n"), 0o600)
			if _, stderr, code := runCmd(t, "check-config", conf); code != 0 {
				t.Fatalf("without --secrets: exit %d\n%s", code, stderr)
			}
			stdout, stderr, code := runCmd(t, "check-config", "--secrets", conf)
			switch {
			case tc.want == "" && code != 0:
				t.Errorf("exit %d, want 0\n%s%s", code, stdout, stderr)
			case tc.want != "" && (code != 2 || !strings.Contains(stderr, tc.want) || !strings.Contains(stderr, "line 3")):
				t.Errorf("exit %d, want 2 naming %s on line 3\n%s", code, tc.want, stderr)
			}
		})
	}
}

// TestCheckConfigTriageModel: a triage.model run cannot load (missing, or
// not a model) is refused by check-config naming the field, as run refuses
// to start on it.
func TestCheckConfigTriageModel(t *testing.T) {
	dir := t.TempDir()
	junk := filepath.Join(dir, "junk.mstm")
	os.WriteFile(junk, []byte("not a model\n"), 0o600)
	for name, model := range map[string]string{"missing": filepath.Join(dir, "absent.mstm"), "not a model": junk} {
		t.Run(name, func(t *testing.T) {
			conf := filepath.Join(t.TempDir(), "minsheng.yaml")
			os.WriteFile(conf, []byte("data: "+dir+"\ntriage:\n  model: "+model+"\n"), 0o600)
			if _, stderr, code := runCmd(t, "check-config", conf); code != 2 || !strings.Contains(stderr, "triage.model") {
				t.Errorf("exit %d, want 2 naming triage.model\n%s", code, stderr)
			}
		})
	}
}
