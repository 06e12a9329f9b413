// Package e2eaudit holds the whole-path test of the mayor's mailbox: a real
// Dovecot feeding the built gateway binary, routing to a Kafka-protocol
// broker (kfake, in process), with the gateway and the broker stopped and
// killed mid-batch, and every mail accounted for at the end. It has no code
// of its own.
package e2eaudit
