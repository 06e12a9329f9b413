package minsheng

import (
	"errors"
	"fmt"
	"os"
	"strings"
)

// ReadSecret resolves a secret that a configuration names by an environment
// variable or a file, never inline. Exactly one of env and file should be
// set; a file's trailing newline is dropped. The secret itself never
// appears in the error.
func ReadSecret(env, file string) (string, error) {
	switch {
	case env != "" && file != "":
		return "", errors.New("set either the environment variable or the file, not both")
	case env != "":
		v, ok := os.LookupEnv(env)
		if !ok || v == "" {
			return "", fmt.Errorf("environment variable %s is not set", env)
		}
		return v, nil
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			return "", fmt.Errorf("secret file: %w", err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", fmt.Errorf("secret file %s is empty", file)
		}
		return v, nil
	}
	return "", errors.New("no secret configured")
}
