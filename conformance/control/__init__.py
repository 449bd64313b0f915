"""Starting and stopping the SUT a target profile names (the embedded reference, a fault relay):
the plugin and the CLIs see the reference only through this and the target profile."""
