// Package dovetest runs a private Dovecot 2.3 IMAP server for tests and
// benchmarks: its own configuration, state, mail and log under a directory,
// listening on a free loopback port, started as a child process
// (`dovecot -F -c CONFIG`). It never touches /etc/dovecot.
package dovetest

import (
	"bufio"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// User and Password of the one account.
const (
	User     = "mayor"
	Password = "dovecot-test-pass"
)

// Binary returns the dovecot binary's path, or an error when Dovecot is not
// installed (apt-get install -y dovecot-imapd).
func Binary() (string, error) {
	if p, err := exec.LookPath("dovecot"); err == nil {
		return p, nil
	}
	for _, p := range []string{"/usr/sbin/dovecot", "/usr/local/sbin/dovecot"} {
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	return "", errors.New("dovecot is not installed (apt-get install -y dovecot-imapd)")
}

// Server is a running private Dovecot.
type Server struct {
	Dir    string // everything lives here
	Config string // the configuration file
	Addr   string // 127.0.0.1:port of the IMAP listener
	bin    string
	cmd    *exec.Cmd
	exited chan struct{}
}

// Start writes a configuration under dir and starts Dovecot.
func Start(dir string) (*Server, error) {
	bin, err := Binary()
	if err != nil {
		return nil, err
	}
	port, err := freePort()
	if err != nil {
		return nil, err
	}
	s := &Server{Dir: dir, Config: filepath.Join(dir, "dovecot.conf"), Addr: fmt.Sprintf("127.0.0.1:%d", port), bin: bin}
	if err := s.writeConfig(port); err != nil {
		return nil, err
	}
	if err := s.start(); err != nil {
		return nil, err
	}
	return s, nil
}

func freePort() (int, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return 0, fmt.Errorf("free port: %w", err)
	}
	defer ln.Close()
	return ln.Addr().(*net.TCPAddr).Port, nil
}

func (s *Server) writeConfig(port int) error {
	for _, d := range []string{"run", "state", "home"} {
		if err := os.MkdirAll(filepath.Join(s.Dir, d), 0o755); err != nil {
			return err
		}
	}
	if err := os.WriteFile(filepath.Join(s.Dir, "passwd"), []byte(User+":{PLAIN}"+Password+"\n"), 0o644); err != nil {
		return err
	}
	var users, services string
	if os.Getuid() == 0 {
		// Mail processes may not run as root: they run as nobody, so
		// every directory on the way to the homes must be searchable.
		// (t.TempDir and os.MkdirTemp make 0700 directories; the walk
		// stops at the home directory and at the root.)
		home, _ := os.UserHomeDir()
		for d, _ := filepath.Abs(s.Dir); d != "/" && d != "." && d != home; d = filepath.Dir(d) {
			if fi, err := os.Stat(d); err == nil && fi.Mode().Perm()&0o001 == 0 {
				os.Chmod(d, fi.Mode().Perm()|0o755)
			}
		}
		os.Chmod(filepath.Join(s.Dir, "home"), 0o777)
		users = "uid=nobody gid=nogroup"
		services = "default_login_user = dovenull\ndefault_internal_user = dovecot\n"
	} else {
		u, err := user.Current()
		if err != nil {
			return err
		}
		g, err := user.LookupGroupId(u.Gid)
		if err != nil {
			return err
		}
		users = "uid=" + u.Uid + " gid=" + u.Gid
		services = fmt.Sprintf("default_login_user = %s\ndefault_internal_user = %s\ndefault_internal_group = %s\nfirst_valid_uid = 1\nfirst_valid_gid = 1\n"+
			"service anvil {\n  chroot =\n}\n", u.Username, u.Username, g.Name)
	}
	chroot := ""
	if os.Getuid() != 0 {
		chroot = "  chroot =\n"
	}
	conf := fmt.Sprintf(`# private test instance written by dovetest
instance_name = minsheng-test-%[1]d
base_dir = %[2]s/run
state_dir = %[2]s/state
log_path = %[2]s/dovecot.log
protocols = imap
listen = 127.0.0.1
ssl = no
disable_plaintext_auth = no
mail_fsync = never
auth_mechanisms = plain login
mail_location = maildir:~/Maildir
%[3]s
passdb {
  driver = passwd-file
  args = scheme=PLAIN %[2]s/passwd
}
userdb {
  driver = static
  args = %[4]s home=%[2]s/home/%%u
}
service imap-login {
  inet_listener imap {
    address = 127.0.0.1
    port = %[1]d
  }
  inet_listener imaps {
    port = 0
  }
%[5]s}
`, port, s.Dir, services, users, chroot)
	return os.WriteFile(s.Config, []byte(conf), 0o644)
}

func (s *Server) start() error {
	logf, err := os.OpenFile(filepath.Join(s.Dir, "stdout.log"), os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o644)
	if err != nil {
		return err
	}
	cmd := exec.Command(s.bin, "-F", "-c", s.Config)
	cmd.Stdout, cmd.Stderr = logf, logf // never a pipe: see BUILD-NOTES
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		logf.Close()
		return fmt.Errorf("start dovecot: %w", err)
	}
	logf.Close()
	s.cmd = cmd
	s.exited = make(chan struct{})
	go func() { cmd.Wait(); close(s.exited) }()
	deadline := time.Now().Add(15 * time.Second)
	for {
		if err := greeting(s.Addr); err == nil {
			return nil
		} else if time.Now().After(deadline) {
			s.Stop()
			return fmt.Errorf("dovecot did not greet on %s: %w (log: %s)", s.Addr, err, s.Log())
		}
		select {
		case <-s.exited:
			return fmt.Errorf("dovecot exited at start (log: %s)", s.Log())
		case <-time.After(20 * time.Millisecond):
		}
	}
}

func greeting(addr string) error {
	c, err := net.DialTimeout("tcp", addr, time.Second)
	if err != nil {
		return err
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(2 * time.Second))
	line, err := bufio.NewReader(c).ReadString('\n')
	if err != nil {
		return err
	}
	if !strings.HasPrefix(line, "* OK") {
		return fmt.Errorf("greeting %q", line)
	}
	return nil
}

// Log returns the tail of Dovecot's logs, for failure messages.
func (s *Server) Log() string {
	var out []string
	for _, f := range []string{"dovecot.log", "stdout.log"} {
		b, _ := os.ReadFile(filepath.Join(s.Dir, f))
		if len(b) > 2000 {
			b = b[len(b)-2000:]
		}
		out = append(out, string(b))
	}
	return strings.Join(out, "\n")
}

// Stop stops Dovecot (SIGTERM, then SIGKILL after 10 s) and waits for it.
func (s *Server) Stop() {
	if s.cmd == nil {
		return
	}
	syscall.Kill(-s.cmd.Process.Pid, syscall.SIGTERM)
	select {
	case <-s.exited:
	case <-time.After(10 * time.Second):
		syscall.Kill(-s.cmd.Process.Pid, syscall.SIGKILL)
		<-s.exited
	}
	s.cmd = nil
}

// Restart stops Dovecot and starts it again on the same port and data.
func (s *Server) Restart() error {
	s.Stop()
	var err error
	for range 50 {
		if err = s.start(); err == nil {
			return nil
		}
		time.Sleep(100 * time.Millisecond)
	}
	return err
}
