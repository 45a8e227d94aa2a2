# Not a Python module: the "user C module" mechanism is how a C file joins the port's build.
SRC_USERMOD_C += $(USERMOD_DIR)/emlab_time.c
