# The op harness (label "backend"): every op of every backend against the double-precision
# reference (tests/op_reference.c) on random inputs, every weight type, odd sizes; the CPU
# backend once per kernel set. backend_ops_mutants holds the harness itself to catching an
# op whose result is 5% off.
llama3_test(test_backend_ops test_backend_ops.c op_reference.c)
add_test(NAME backend_ops COMMAND test_backend_ops)
add_test(NAME backend_ops_mutants COMMAND test_backend_ops --mutants)
set_tests_properties(backend_ops backend_ops_mutants PROPERTIES LABELS "backend" TIMEOUT 900)
