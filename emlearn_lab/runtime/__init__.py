"""What goes onto a device for a model, below both device/ (which sends it) and board_fit/ (which
sizes it): mpy-cross builds per target (build.py), files with their roles and the load call
(artifacts.py), the plan that picks a form and its bundle through the model's kind (plan.py),
the viper kernel modules (kernels.py), the inline form (inline_form.py), the feature
extractors' bundle (feature_bundle.py), and the generators of machine code for Thumb and
RV32 cores (thumb_*.py, rv32_walker.py)."""
