from evalgate.supervisor import main

main()
