"""The appliance daemon: sources, perception, outbox, MQTT, local sinks, systemd notify."""
