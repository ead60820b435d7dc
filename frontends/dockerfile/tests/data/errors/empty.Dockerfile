# comment only

