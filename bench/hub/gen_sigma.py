#!/usr/bin/env python3
# Writes the benchmark's Sigma Linux rules (bench/hub/sigma/*.yml) from the tables below; the
# committed output is plain Sigma rule files. Run from anywhere: python3 bench/hub/gen_sigma.py
import hashlib
import os
import uuid

OUT = os.path.join(os.path.dirname(os.path.abspath(__file__)), "sigma")

# (slug, title, level, tags, detection yaml lines, condition)
RULES = []


def rule(category, slug, title, level, tags, detection, condition):
    RULES.append((category, slug, title, level, tags, detection, condition))


# Process creation: tools rarely run on servers (Image endswith) plus command-line shapes.
TOOLS = [
    ("nmap", "Network scanner nmap", "discovery", "t1046"),
    ("masscan", "Mass port scanner", "discovery", "t1046"),
    ("zmap", "Internet scanner zmap", "discovery", "t1046"),
    ("hydra", "Password brute forcer hydra", "credential_access", "t1110"),
    ("john", "Password cracker John the Ripper", "credential_access", "t1110.002"),
    ("hashcat", "Password cracker hashcat", "credential_access", "t1110.002"),
    ("socat", "Socat relay", "command_and_control", "t1090"),
    ("chisel", "Chisel tunnel", "command_and_control", "t1572"),
    ("ngrok", "Ngrok tunnel", "command_and_control", "t1572"),
    ("frpc", "FRP client tunnel", "command_and_control", "t1572"),
    ("proxychains", "Proxychains", "command_and_control", "t1090"),
    ("tcpdump", "Packet capture with tcpdump", "credential_access", "t1040"),
    ("tshark", "Packet capture with tshark", "credential_access", "t1040"),
    ("xmrig", "Monero miner xmrig", "impact", "t1496"),
    ("minerd", "CPU miner minerd", "impact", "t1496"),
    ("linpeas.sh", "LinPEAS privilege escalation script", "discovery", "t1082"),
    ("pspy64", "pspy process snooper", "discovery", "t1057"),
    ("mimipenguin", "Mimipenguin credential dumper", "credential_access", "t1003"),
    ("lazagne", "LaZagne credential dumper", "credential_access", "t1555"),
    ("shred", "File shredding with shred", "defense_evasion", "t1070.004"),
    ("insmod", "Kernel module insertion", "persistence", "t1547.006"),
    ("modprobe", "Kernel module loading with modprobe", "persistence", "t1547.006"),
    ("setcap", "Capabilities set on a file", "privilege_escalation", "t1548"),
    ("debugfs", "Raw filesystem access with debugfs", "privilege_escalation", "t1006"),
    ("gdb", "Debugger attached on a server", "privilege_escalation", "t1055"),
    ("strace", "System call tracer strace", "credential_access", "t1056"),
    ("ltrace", "Library call tracer ltrace", "credential_access", "t1056"),
    ("nsenter", "Namespace entry with nsenter", "privilege_escalation", "t1611"),
    ("unshare", "New namespaces with unshare", "privilege_escalation", "t1611"),
    ("iodine", "DNS tunnel iodine", "command_and_control", "t1071.004"),
    ("dnscat", "DNS tunnel dnscat", "command_and_control", "t1071.004"),
    ("ettercap", "Man in the middle with ettercap", "credential_access", "t1557"),
    ("responder", "LLMNR poisoning with Responder", "credential_access", "t1557.001"),
    ("sqlmap", "SQL injection tool sqlmap", "initial_access", "t1190"),
    ("nikto", "Web scanner nikto", "reconnaissance", "t1595"),
    ("gobuster", "Directory brute forcer gobuster", "reconnaissance", "t1595.003"),
]
for tool, title, tactic, tech in TOOLS:
    rule("process_creation", f"tool_{tool.replace('.', '_')}", title, "medium",
         [f"attack.{tactic}", f"attack.{tech}"],
         ["    selection:", "        Image|endswith:", f"            - '/{tool}'"], "selection")

# Command lines: (slug, title, level, tactic.technique, {field|modifier: [values]} per selection)
CMDLINES = [
    ("bash_dev_tcp", "Bash redirection to /dev/tcp", "high", "execution.t1059.004",
     [("CommandLine|contains", ["/dev/tcp/", "/dev/udp/"])]),
    ("curl_pipe_shell", "Download piped to a shell", "high", "execution.t1059.004",
     [("CommandLine|contains", ["curl ", "wget "]), ("CommandLine|contains", ["| sh", "| bash", "|sh", "|bash"])]),
    ("python_pty", "Python pty spawn", "high", "execution.t1059.006",
     [("CommandLine|contains|all", ["python", "pty.spawn"])]),
    ("python_socket", "Python socket one-liner", "high", "execution.t1059.006",
     [("CommandLine|contains|all", ["python", "-c", "socket", "connect"])]),
    ("perl_socket", "Perl socket one-liner", "high", "execution.t1059",
     [("CommandLine|contains|all", ["perl", "-e", "Socket"])]),
    ("php_fsockopen", "PHP reverse shell", "high", "execution.t1059",
     [("CommandLine|contains", ["fsockopen("])]),
    ("ruby_socket", "Ruby TCPSocket one-liner", "high", "execution.t1059",
     [("CommandLine|contains|all", ["ruby", "TCPSocket"])]),
    ("mkfifo_nc", "Named pipe with netcat", "high", "execution.t1059.004",
     [("CommandLine|contains", ["mkfifo", "mknod"]), ("CommandLine|contains", [" nc ", "ncat", "netcat"])]),
    ("history_clear", "Shell history cleared", "medium", "defense_evasion.t1070.003",
     [("CommandLine|contains", ["history -c", "HISTFILE=/dev/null", "unset HISTFILE", "HISTSIZE=0"])]),
    ("rm_bash_history", "Bash history removed", "medium", "defense_evasion.t1070.003",
     [("CommandLine|contains", [".bash_history"]), ("CommandLine|startswith", ["rm ", "shred ", "truncate "])]),
    ("iptables_flush", "Firewall rules flushed", "medium", "defense_evasion.t1562.004",
     [("CommandLine|contains", ["iptables -F", "iptables --flush", "ufw disable", "nft flush ruleset"])]),
    ("selinux_off", "SELinux disabled", "medium", "defense_evasion.t1562.001",
     [("CommandLine|contains", ["setenforce 0", "SELINUX=disabled"])]),
    ("auditd_stop", "Audit daemon stopped", "high", "defense_evasion.t1562.012",
     [("CommandLine|contains", ["auditctl -D", "auditctl -e 0", "systemctl stop auditd", "service auditd stop"])]),
    ("crontab_write", "Crontab replaced from a pipe or file", "medium", "persistence.t1053.003",
     [("Image|endswith", ["/crontab"]), ("CommandLine|re", ["crontab\\s+(-u\\s+\\w+\\s+)?(/tmp/|/dev/shm/|-\\s*$)"])]),
    ("useradd", "Local account created", "low", "persistence.t1136.001",
     [("Image|endswith", ["/useradd", "/adduser"])]),
    ("usermod_sudo", "User added to a privileged group", "medium", "privilege_escalation.t1078.003",
     [("Image|endswith", ["/usermod", "/gpasswd"]), ("CommandLine|contains", ["sudo", "wheel", "root", "docker"])]),
    ("passwd_stdin", "Password set from standard input", "medium", "persistence.t1098",
     [("CommandLine|contains", ["--stdin", "chpasswd"])]),
    ("ssh_keygen_authorized", "Key appended to authorized_keys", "high", "persistence.t1098.004",
     [("CommandLine|contains", ["authorized_keys"]), ("CommandLine|contains", [">>", "tee -a"])]),
    ("chmod_suid", "SUID bit set", "medium", "privilege_escalation.t1548.001",
     [("CommandLine|contains", ["chmod u+s", "chmod +s", "chmod 4755", "chmod 4777"])]),
    ("chattr_immutable", "Immutable attribute changed", "medium", "defense_evasion.t1222.002",
     [("Image|endswith", ["/chattr"]), ("CommandLine|contains", [" +i ", " -i "])]),
    ("base64_shell", "Base64 decoded into an interpreter", "high", "execution.t1027",
     [("CommandLine|contains", ["base64 -d", "base64 --decode"]), ("CommandLine|contains", ["| bash", "| sh", "| python"])]),
    ("xxd_reverse", "Hex decoded payload", "medium", "defense_evasion.t1140",
     [("CommandLine|contains", ["xxd -r -p", "xxd -rp"])]),
    ("openssl_shell", "OpenSSL client used as a shell channel", "high", "command_and_control.t1573",
     [("CommandLine|contains|all", ["openssl", "s_client", "-connect"])]),
    ("tar_checkpoint", "Tar checkpoint action", "high", "execution.t1059",
     [("CommandLine|contains", ["--checkpoint-action=exec"])]),
    ("find_exec_shell", "Find spawning a shell", "medium", "execution.t1059.004",
     [("CommandLine|contains", ["-exec /bin/sh", "-exec /bin/bash", "-exec sh "])]),
    ("awk_system", "Awk running a shell", "medium", "execution.t1059.004",
     [("CommandLine|contains|all", ["awk", "system(\"/bin/"])]),
    ("vim_shell", "Editor escaping to a shell", "medium", "execution.t1059.004",
     [("CommandLine|contains", [":!/bin/sh", ":shell", "-c ':!/bin/"])]),
    ("docker_privileged", "Privileged container started", "high", "privilege_escalation.t1611",
     [("CommandLine|contains", ["--privileged", "--pid=host", "-v /:/"]), ("CommandLine|contains", ["docker run", "podman run"])]),
    ("kubectl_exec", "Command run in a pod", "medium", "execution.t1609",
     [("CommandLine|contains|all", ["kubectl", "exec"])]),
    ("wget_tmp", "Download into /tmp or /dev/shm", "medium", "command_and_control.t1105",
     [("Image|endswith", ["/wget", "/curl"]), ("CommandLine|contains", [" -O /tmp/", " -o /tmp/", "/dev/shm/"])]),
    ("chmod_tmp_exec", "Executable bit set in /tmp", "medium", "execution.t1059",
     [("CommandLine|re", ["chmod\\s+(\\+x|[0-7]?[157][0-7][0-7])\\s+/(tmp|dev/shm|var/tmp)/"])]),
    ("exec_from_tmp", "Program run from a temporary directory", "medium", "execution.t1204",
     [("Image|startswith", ["/tmp/", "/dev/shm/", "/var/tmp/"])]),
    ("hidden_exe", "Program run from a hidden directory", "medium", "defense_evasion.t1564.001",
     [("Image|contains", ["/."]), ("Image|startswith", ["/tmp/", "/home/", "/root/", "/var/"])]),
    ("ld_preload", "LD_PRELOAD set on a command line", "high", "persistence.t1574.006",
     [("CommandLine|contains", ["LD_PRELOAD=", "/etc/ld.so.preload"])]),
    ("proc_mem_read", "Process memory read through /proc", "high", "credential_access.t1003.007",
     [("CommandLine|re", ["/proc/[0-9]+/(mem|maps|environ)"])]),
    ("shadow_read", "Shadow file read", "high", "credential_access.t1003.008",
     [("CommandLine|contains", ["/etc/shadow", "/etc/gshadow"])]),
    ("ssh_private_key_read", "SSH private keys read", "medium", "credential_access.t1552.004",
     [("CommandLine|contains", ["id_rsa", "id_ed25519", "id_ecdsa"]), ("Image|endswith", ["/cat", "/cp", "/scp", "/tar", "/base64"])]),
    ("aws_credentials", "Cloud credentials read", "medium", "credential_access.t1552.001",
     [("CommandLine|contains", [".aws/credentials", ".config/gcloud", ".azure/accessTokens"])]),
    ("metadata_curl", "Cloud metadata endpoint queried", "medium", "credential_access.t1552.005",
     [("CommandLine|contains", ["169.254.169.254", "metadata.google.internal"])]),
    ("systemctl_enable_tmp", "Service created from /tmp", "high", "persistence.t1543.002",
     [("CommandLine|contains", ["systemctl enable", "systemctl daemon-reload"]), ("ParentCommandLine|contains", ["/tmp/", "/dev/shm/"])]),
    ("rc_local", "rc.local modified", "medium", "persistence.t1037.004",
     [("CommandLine|contains", ["/etc/rc.local", "/etc/init.d/"]), ("CommandLine|contains", ["echo ", "tee ", "cp ", "mv "])]),
    ("at_job", "At job scheduled", "low", "persistence.t1053.002",
     [("Image|endswith", ["/at", "/atd", "/batch"])]),
    ("kill_security", "Security agent killed", "high", "defense_evasion.t1562.001",
     [("CommandLine|contains", ["pkill ", "killall ", "kill -9"]), ("CommandLine|contains", ["falco", "osqueryd", "auditd", "vigil-agent", "elkeid"])]),
    ("log_wipe", "System logs wiped", "high", "defense_evasion.t1070.002",
     [("CommandLine|contains", ["/var/log/"]), ("CommandLine|contains", ["> /var/log", "rm -rf /var/log", "truncate -s 0", "shred "])]),
    ("timestomp", "File times changed with touch", "low", "defense_evasion.t1070.006",
     [("Image|endswith", ["/touch"]), ("CommandLine|contains", [" -r ", " -t ", "--reference"])]),
    ("dd_disk", "Raw disk read with dd", "medium", "collection.t1005",
     [("Image|endswith", ["/dd"]), ("CommandLine|contains", ["if=/dev/sd", "if=/dev/nvme", "if=/dev/mem"])]),
    ("sudo_shell", "Shell through sudo", "low", "privilege_escalation.t1548.003",
     [("CommandLine|re", ["^sudo\\s+(-\\w+\\s+)*(/bin/)?(ba|z|da)?sh(\\s|$)"])]),
    ("sudoers_edit", "sudoers changed from the command line", "high", "privilege_escalation.t1548.003",
     [("CommandLine|contains", ["/etc/sudoers"]), ("CommandLine|contains", ["echo ", "tee ", "sed -i"])]),
    ("nohup_tmp", "Background job from a temporary directory", "medium", "execution.t1059",
     [("CommandLine|startswith", ["nohup /tmp/", "nohup /dev/shm/", "setsid /tmp/"])]),
    ("git_clone_exploit", "Exploit repository cloned", "medium", "resource_development.t1588.005",
     [("CommandLine|contains", ["git clone"]), ("CommandLine|contains", ["exploit", "CVE-", "poc", "privesc"])]),
    ("gcc_tmp", "Compilation in /tmp", "low", "defense_evasion.t1027.004",
     [("Image|endswith", ["/gcc", "/cc", "/clang"]), ("CommandLine|contains", ["/tmp/", "/dev/shm/"])]),
    ("whoami_web", "Discovery by a web server child", "high", "discovery.t1033",
     [("Image|endswith", ["/whoami", "/id", "/uname", "/hostname"]), ("ParentImage|endswith", ["/nginx", "/httpd", "/apache2", "/php-fpm", "/java"])]),
    ("web_shell_child", "Shell spawned by a web server", "high", "persistence.t1505.003",
     [("Image|endswith", ["/sh", "/bash", "/dash"]), ("ParentImage|endswith", ["/nginx", "/httpd", "/apache2", "/php-fpm", "/tomcat"])]),
    ("env_discovery", "Environment dumped for secrets", "low", "discovery.t1082",
     [("CommandLine|contains", ["printenv", "cat /proc/self/environ"])]),
]
for slug, title, level, tt, sels in CMDLINES:
    tactic, tech = tt.split(".", 1)
    det = []
    names = []
    for i, (field, values) in enumerate(sels):
        name = f"selection_{i + 1}" if len(sels) > 1 else "selection"
        names.append(name)
        det.append(f"    {name}:")
        det.append(f"        {field}:")
        for v in values:
            det.append("            - '" + v.replace("'", "''") + "'")
    cond = "all of selection_*" if len(sels) > 1 else "selection"
    rule("process_creation", f"cmd_{slug}", title, level, [f"attack.{tactic}", f"attack.{tech}"],
         det, cond)

# Network connections.
NET = [
    ("irc_ports", "Connection to an IRC port", "medium", ["6667", "6668", "6669", "6697"]),
    ("tor_ports", "Connection to a Tor port", "medium", ["9001", "9030", "9050", "9150"]),
    ("metasploit_port", "Connection to the default Metasploit port", "high", ["4444", "4445"]),
    ("mining_pool_ports", "Connection to a mining pool port", "medium", ["3333", "5555", "7777", "14444", "45700"]),
    ("backdoor_ports", "Connection to a common backdoor port", "medium", ["1337", "31337", "12345", "54321"]),
    ("rdp_out", "Outbound RDP from a Linux host", "low", ["3389"]),
    ("smb_out", "Outbound SMB", "low", ["445", "139"]),
    ("telnet_out", "Outbound telnet", "low", ["23"]),
]
for slug, title, level, ports in NET:
    rule("network_connection", f"net_{slug}", title, level, ["attack.command_and_control", "attack.t1571"],
         ["    selection:", "        DestinationPort:"] + [f"            - {p}" for p in ports], "selection")
NET_PROC = [
    ("shell_connect", "Shell process opens a connection", "high", ["/bash", "/sh", "/dash", "/zsh"], None),
    ("interpreter_connect", "Interpreter connects to a public address", "medium", ["/python3", "/python", "/perl", "/ruby", "/php"], True),
    ("tmp_binary_connect", "Program in /tmp opens a connection", "high", None, None),
    ("nc_connect", "Netcat connects out", "medium", ["/nc", "/ncat", "/netcat", "/nc.openbsd"], None),
    ("curl_public", "Downloader connects to a public address", "low", ["/curl", "/wget"], True),
]
for slug, title, level, images, public in NET_PROC:
    det = ["    selection:"]
    if images:
        det += ["        Image|endswith:"] + [f"            - '{i}'" for i in images]
    else:
        det += ["        Image|startswith:", "            - '/tmp/'", "            - '/dev/shm/'"]
    cond = "selection"
    if public:
        det += ["    filter_private:", "        DestinationIp|cidr:", "            - '10.0.0.0/8'",
                "            - '172.16.0.0/12'", "            - '192.168.0.0/16'", "            - '127.0.0.0/8'"]
        cond = "selection and not filter_private"
    rule("network_connection", f"net_{slug}", title, level, ["attack.command_and_control", "attack.t1071"], det, cond)
rule("network_connection", "net_metadata_non_agent", "Cloud metadata reached by an unusual program", "medium",
     ["attack.credential_access", "attack.t1552.005"],
     ["    selection:", "        DestinationIp: '169.254.169.254'", "    filter:", "        Image|endswith:",
      "            - '/cloud-init'", "            - '/google_guest_agent'", "            - '/amazon-ssm-agent'"],
     "selection and not filter")

# File creation.
FILES = [
    ("cron_file", "Cron file created", "medium", "persistence.t1053.003", "startswith", ["/etc/cron.d/", "/etc/cron.daily/", "/etc/cron.hourly/", "/var/spool/cron/"]),
    ("systemd_unit", "Systemd unit created", "medium", "persistence.t1543.002", "startswith", ["/etc/systemd/system/", "/usr/lib/systemd/system/", "/run/systemd/system/"]),
    ("ld_so_preload", "ld.so.preload created", "high", "persistence.t1574.006", "endswith", ["/etc/ld.so.preload"]),
    ("authorized_keys", "authorized_keys written", "medium", "persistence.t1098.004", "endswith", ["/.ssh/authorized_keys", "/.ssh/authorized_keys2"]),
    ("profile_d", "Login script created", "medium", "persistence.t1546.004", "startswith", ["/etc/profile.d/"]),
    ("bashrc", "Shell rc file written", "low", "persistence.t1546.004", "endswith", ["/.bashrc", "/.bash_profile", "/.zshrc", "/.profile"]),
    ("sudoers_d", "sudoers drop-in created", "high", "privilege_escalation.t1548.003", "startswith", ["/etc/sudoers.d/"]),
    ("pam_module", "PAM module or config written", "high", "credential_access.t1556.003", "startswith", ["/lib/security/", "/lib/x86_64-linux-gnu/security/", "/etc/pam.d/"]),
    ("kernel_module", "Kernel module file created", "high", "persistence.t1547.006", "endswith", [".ko", ".ko.xz"]),
    ("dev_shm_exec", "File created in /dev/shm", "low", "defense_evasion.t1564", "startswith", ["/dev/shm/"]),
    ("web_shell", "Script written under a web root", "high", "persistence.t1505.003", "re", ["^/var/www/.+\\.(php|jsp|aspx|phtml)$"]),
    ("udev_rule", "udev rule created", "medium", "persistence.t1546", "startswith", ["/etc/udev/rules.d/", "/lib/udev/rules.d/"]),
    ("motd", "MOTD script created", "medium", "persistence.t1037", "startswith", ["/etc/update-motd.d/"]),
    ("xdg_autostart", "XDG autostart entry created", "low", "persistence.t1547.013", "contains", ["/.config/autostart/", "/etc/xdg/autostart/"]),
    ("rc_local_file", "rc.local created", "medium", "persistence.t1037.004", "endswith", ["/etc/rc.local"]),
    ("passwd_file", "Account database written", "high", "persistence.t1136.001", "endswith", ["/etc/passwd", "/etc/shadow", "/etc/group"]),
    ("hidden_tmp", "Hidden file in a temporary directory", "low", "defense_evasion.t1564.001", "re", ["^/(tmp|var/tmp|dev/shm)/\\.[^/]+$"]),
    ("apt_hook", "Package manager hook created", "high", "persistence.t1546", "startswith", ["/etc/apt/apt.conf.d/", "/etc/yum/pluginconf.d/"]),
    ("git_hook", "Git hook written", "low", "persistence.t1546", "contains", ["/.git/hooks/"]),
    ("docker_sock", "Docker socket config changed", "medium", "privilege_escalation.t1611", "endswith", ["/etc/docker/daemon.json"]),
]
for slug, title, level, tt, mod, values in FILES:
    tactic, tech = tt.split(".", 1)
    det = ["    selection:", f"        TargetFilename|{mod}:"] + [
        "            - '" + v + "'" for v in values]
    rule("file_event", f"file_{slug}", title, level, [f"attack.{tactic}", f"attack.{tech}"], det, "selection")


def main():
    os.makedirs(OUT, exist_ok=True)
    for f in os.listdir(OUT):
        if f.endswith(".yml"):
            os.remove(os.path.join(OUT, f))
    prefix = {"process_creation": "proc_creation", "network_connection": "net_connection",
              "file_event": "file_event"}
    for category, slug, title, level, tags, det, cond in RULES:
        rid = uuid.UUID(hashlib.md5(("vigil-bench-" + slug).encode()).hexdigest())
        lines = [
            f"title: {title}",
            f"id: {rid}",
            "status: experimental",
            f"description: {title} (Vigil hub benchmark rule).",
            "author: Vigil",
            "logsource:",
            "    product: linux",
            f"    category: {category}",
            "detection:",
            *det,
            f"    condition: {cond}",
            f"level: {level}",
            "tags:",
            *[f"    - {t}" for t in tags],
        ]
        name = f"{prefix[category]}_lnx_{slug}.yml"
        with open(os.path.join(OUT, name), "w") as out:
            out.write("\n".join(lines) + "\n")
    print(f"{len(RULES)} rules written to {OUT}")


if __name__ == "__main__":
    main()
