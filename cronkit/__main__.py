from cronkit.main import main

main()
