"""The stack: settings, the compose model, the engine client, secrets, images, up/down/status."""
