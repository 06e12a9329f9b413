package minsheng

import (
	"errors"
	"fmt"
	"os"
	"regexp"
	"strings"
)

// ReadSecret resolves a secret that a configuration names by an environment
// variable or a file, never inline. Exactly one of env and file should be
// set; a file's trailing newline is dropped. The secret itself never
// appears in the error, nor does a value of env that may be the secret
// put there by mistake (not an upper-case variable name).
func ReadSecret(env, file string) (string, error) {
	v, _, msg := readSecret(env, file, "the environment variable", "the file")
	if msg != "" {
		return "", errors.New(msg)
	}
	return v, nil
}

// ReadSecretField is ReadSecret for a configuration's pair of fields (e.g.
// "token_env" and "token_file"): its error is a FieldErrors naming the field
// at fault, worded the same for every secret of the gateway. The caller
// prefixes the path of the section the fields are in.
func ReadSecretField(envKey, env, fileKey, file string) (string, error) {
	v, env1, msg := readSecret(env, file, envKey, fileKey)
	if msg == "" {
		return v, nil
	}
	path := fileKey
	if env1 {
		path = envKey
	}
	return "", FieldErrors{{Path: path, Msg: msg}}
}

// envName is what an environment variable's name may be, and plainEnvName
// the usual, upper-case one, which errors repeat; tokenPrefix begins every
// desk token (auth.NewToken).
var (
	envName      = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]{0,127}$`)
	plainEnvName = regexp.MustCompile(`^[A-Z_][A-Z0-9_]{0,127}$`)
)

const tokenPrefix = "mst_"

// readSecret returns the secret, or a message and whether it concerns the
// environment variable (rather than the file).
func readSecret(env, file, envKey, fileKey string) (string, bool, string) {
	switch {
	case env != "" && file != "":
		return "", true, fmt.Sprintf("set either %s or %s, not both", envKey, fileKey)
	case env != "":
		// The secret itself is sometimes pasted where its variable's
		// name goes: an error must not repeat it.
		if !envName.MatchString(env) || strings.HasPrefix(strings.ToLower(env), tokenPrefix) {
			return "", true, "must name an environment variable (letters, digits and '_', not starting with a digit), " +
				"not hold the secret: the value given is not such a name and looks like a secret itself, so it is not shown"
		}
		name := env
		if !plainEnvName.MatchString(env) {
			name = "it names (not shown: not in upper case, it may be the secret itself)"
		}
		v, ok := os.LookupEnv(env)
		if !ok {
			return "", true, fmt.Sprintf("environment variable %s is not set", name)
		}
		if v == "" {
			return "", true, fmt.Sprintf("environment variable %s is empty", name)
		}
		return v, true, ""
	case file != "":
		b, err := os.ReadFile(file)
		if err != nil {
			var pe *os.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return "", false, fmt.Sprintf("secret file %s cannot be read: %v", file, err)
		}
		v := strings.TrimRight(string(b), "\r\n")
		if v == "" {
			return "", false, fmt.Sprintf("secret file %s is empty", file)
		}
		return v, false, ""
	}
	return "", true, fmt.Sprintf("is required: set %s or %s", envKey, fileKey)
}
