from promptyard.cli.main import main

main()
